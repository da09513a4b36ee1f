// AMX bf16 tile kernel: TDPBF16PS multiplies a 16 x 32 bf16 A tile by a 16-pair x 16-column B
// tile (each 32-bit element a k pair) into 16 x 16 float32 accumulators: 8K multiply-adds per
// instruction. A 32 x 32 output block keeps four accumulator tiles (tmm0-3) for two A tiles
// (tmm4-5) and two B tiles (tmm6-7), as the int8 kernel (gemm_s8_amx.cpp), whose tile
// configuration (every tile 16 rows x 64 bytes) it shares.
// Layouts (kernel_table.h "[bf16 GEMM]", AMX): A row-major bf16, k padded with zeros to a
// multiple of 32; B the pair panel of 32 columns (128 bytes per k pair), k pairs padded with
// zero words to a multiple of 16. Built with -mamx-tile -mamx-bf16 where the compiler knows them;
// called only after amx_tiles_granted().
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

namespace {

template <bool R2, bool C2>
void accumulate(int64_t kb, const uint16_t* a, int64_t a_rs, const uint32_t* b) {
  for (int64_t q = 0; q < kb; ++q) {
    const uint16_t* aq = a + q * 32;
    const uint32_t* bq = b + q * 16 * 32;
    _tile_loadd(4, aq, a_rs);
    if (R2) _tile_loadd(5, aq + 16 * (a_rs / 2), a_rs);
    _tile_loadd(6, bq, 128);
    if (C2) _tile_loadd(7, bq + 16, 128);
    _tile_dpbf16ps(0, 4, 6);
    if (C2) _tile_dpbf16ps(1, 4, 7);
    if (R2) _tile_dpbf16ps(2, 5, 6);
    if (R2 && C2) _tile_dpbf16ps(3, 5, 7);
  }
}

}  // namespace

void bf16_amx_block_32x32(int64_t kb, const uint16_t* a, int64_t a_rs, const uint32_t* b,
                          float* acc, bool two_rows, bool two_cols) {
  _tile_zero(0);
  if (two_cols) _tile_zero(1);
  if (two_rows) _tile_zero(2);
  if (two_rows && two_cols) _tile_zero(3);
  if (two_rows && two_cols) accumulate<true, true>(kb, a, a_rs, b);
  else if (two_cols) accumulate<false, true>(kb, a, a_rs, b);
  else if (two_rows) accumulate<true, false>(kb, a, a_rs, b);
  else accumulate<false, false>(kb, a, a_rs, b);
  _tile_stored(0, acc, 128);
  if (two_cols) _tile_stored(1, acc + 16, 128);
  if (two_rows) _tile_stored(2, acc + 16 * 32, 128);
  if (two_rows && two_cols) _tile_stored(3, acc + 16 * 32 + 16, 128);
}

}  // namespace avx512
}  // namespace fastnn
