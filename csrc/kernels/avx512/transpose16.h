// 16x16 f32 transpose in zmm registers (avx512 folder only: built with the folder's flags, inline
// in namespace fastnn::avx512 so it never leaks into code compiled for older CPUs).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "lanes.h"

namespace fastnn {
namespace avx512 {

// r[i] holds row i of a 16x16 block; on return r[j] holds column j. Three rounds of shuffles:
// 32-bit pairs, 64-bit pairs within 128-bit lanes, then the 4x4 transpose of 128-bit lanes.
inline void transpose_16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + e], lane L: column 4L + e of rows 4g .. 4g+3.
  __m512 u[16];
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int e = 0; e < 4; ++e) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], _MM_SHUFFLE(3, 2, 3, 2));
    r[e] = _mm512_shuffle_f32x4(v0, v2, _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + e] = _mm512_shuffle_f32x4(v0, v2, _MM_SHUFFLE(3, 1, 3, 1));
    r[8 + e] = _mm512_shuffle_f32x4(v1, v3, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + e] = _mm512_shuffle_f32x4(v1, v3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols (rows, cols <= 16). Rows past `rows`
// are never read; nothing outside the rows x cols image is written.
inline void transpose_block16(const float* src, int64_t lds, int64_t rows, int64_t cols,
                              float* dst, int64_t ldd) {
  const __mmask16 col_mask = first_lanes(cols), row_mask = first_lanes(rows);
  __m512 r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, src + i * lds) : _mm512_setzero_ps();
  transpose_16x16(r);
  for (int j = 0; j < 16; ++j)
    if (j < cols) _mm512_mask_storeu_ps(dst + j * ldd, row_mask, r[j]);
}

}  // namespace avx512
}  // namespace fastnn
