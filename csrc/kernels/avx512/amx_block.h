// The 2 x 2 tile blocking shared by the AMX kernels (gemm_s8_amx.cpp: TDPBUSD, int8 -> int32;
// gemm_bf16_amx.cpp: TDPBF16PS, bf16 pairs -> float32): a 32 x 32 block of 4-byte accumulators
// in tiles 0-3 (C0 rows 0-15 x columns 0-15, C1 columns 16-31, C2 rows 16-31, C3 both), fed per
// step by A tiles 4-5 (16 rows of 64 bytes each) and B tiles 6-7 (16 rows of 64 bytes from a
// 128-byte-row panel: its first and second halves). two_rows / two_cols: the second row / column
// tile is needed (more than 16 rows / columns). The tile configuration is the int8 kernel's
// (u8s8_amx_configure: every tile 16 rows x 64 bytes). Included by files built with AMX flags.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx512 {

inline void amx_zero(bool two_rows, bool two_cols) {
  _tile_zero(0);
  if (two_cols) _tile_zero(1);
  if (two_rows) _tile_zero(2);
  if (two_rows && two_cols) _tile_zero(3);
}

// One step: A rows from a0 (and a1) with row stride a_rs bytes, B from the panel block b.
template <bool BF16>
inline void amx_step(bool two_rows, bool two_cols, const void* a0, const void* a1, int64_t a_rs,
                     const void* b) {
  _tile_loadd(4, a0, a_rs);
  if (two_rows) _tile_loadd(5, a1, a_rs);
  _tile_loadd(6, b, 128);
  if (two_cols) _tile_loadd(7, static_cast<const char*>(b) + 64, 128);
  if constexpr (BF16) {
    _tile_dpbf16ps(0, 4, 6);
    if (two_cols) _tile_dpbf16ps(1, 4, 7);
    if (two_rows) _tile_dpbf16ps(2, 5, 6);
    if (two_rows && two_cols) _tile_dpbf16ps(3, 5, 7);
  } else {
    _tile_dpbusd(0, 4, 6);
    if (two_cols) _tile_dpbusd(1, 4, 7);
    if (two_rows) _tile_dpbusd(2, 5, 6);
    if (two_rows && two_cols) _tile_dpbusd(3, 5, 7);
  }
}

// acc: 32 rows of 32 four-byte elements (128-byte rows); the tiles not in use are not stored.
inline void amx_store(bool two_rows, bool two_cols, void* acc) {
  char* p = static_cast<char*>(acc);
  _tile_stored(0, p, 128);
  if (two_cols) _tile_stored(1, p + 64, 128);
  if (two_rows) _tile_stored(2, p + 16 * 128, 128);
  if (two_rows && two_cols) _tile_stored(3, p + 16 * 128 + 64, 128);
}

}  // namespace avx512
}  // namespace fastnn
