// AMX int8 tile kernel: u8 x s8 -> s32 on the tile unit (TDPBUSD: a 16 x 64 u8 tile times a
// 64 x 16 s8 tile, 16K exact multiply-adds into 16 x 16 int32 accumulators, per instruction).
// A 32 x 32 output block keeps four accumulator tiles (C0..C3 = tmm0-3) for two A tiles (tmm4-5,
// 16 rows each) and two B tiles (tmm6-7, 16 columns each): per 64 k, four loads feed four
// multiplies (the 2 x 2 blocking Intel's optimisation manual recommends). The finished tiles are
// stored to a 4 KiB int32 block and pass through the VNNI kernel's epilogue (s8_epilogue.h), so
// the output bits equal the VNNI and reference paths'.
// Layouts (A packed by the driver, B the shared panel layout): kernel_table.h.
// Built with -mamx-tile -mamx-int8 (setup.py FILE_FLAGS), only where the compiler knows them;
// called only after amx_tiles_granted() (Linux's per-process permission for tile data).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see gemm_s8.cpp
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "fastnn/kernel_table.h"
#include "amx_block.h"
#include "s8_epilogue.h"

namespace fastnn {
namespace avx512 {

namespace {

// LDTILECFG's 64-byte operand: palette 1, every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
  TileConfig() {
    for (int t = 0; t < 8; ++t) {
      colsb[t] = 64;
      rows[t] = 16;
    }
  }
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

constexpr int64_t kATile = 16 * 64;              // bytes of one A tile (16 rows x 64 k)
constexpr int64_t kBBlock = 16 * kS8NR * kS8KG;  // bytes of 16 k groups of a panel (64 k)

}  // namespace

void u8s8_amx_configure() {
  static const TileConfig cfg;
  _tile_loadconfig(&cfg);
}

void u8s8_amx_release() { _tile_release(); }

void u8s8_amx_tile_32x32(int64_t kb, const uint8_t* a, int64_t a_rs, int64_t a_qs, int64_t a_ts,
                         const uint8_t* tail, int64_t m, const int8_t* b, void* c, int64_t ldc,
                         int64_t n, const S8Epilogue& ep) {
  alignas(64) int32_t acc[32][32];
  const bool two_rows = m > 16, two_cols = n > 16;
  amx_zero(two_rows, two_cols);
  for (int64_t q = 0; q < kb; ++q)
    amx_step<false>(two_rows, two_cols, a + q * a_qs, a + a_ts + q * a_qs, a_rs, b + q * kBBlock);
  if (tail) amx_step<false>(two_rows, two_cols, tail, tail + kATile, 64, b + kb * kBBlock);
  amx_store(two_rows, two_cols, &acc[0][0]);
  const __mmask16 mask0 = s8_mask_lo(n), mask1 = s8_mask_hi(n);
  const int64_t esize = ep.out == S8Out::u8 ? 1 : 4;
  for (int64_t i = 0; i < m; ++i) {
    void* ci = static_cast<char*>(c) + i * ldc * esize;
    s8_store16(_mm512_load_si512(&acc[i][0]), ep, 0, ci, mask0);
    if (two_cols) s8_store16(_mm512_load_si512(&acc[i][16]), ep, 1, ci, mask1);
  }
}

}  // namespace avx512
}  // namespace fastnn
