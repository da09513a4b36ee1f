// 8x8 f32 transpose in ymm registers (avx2 folder only: inline in namespace fastnn::avx2, built
// with the folder's flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "lanes.h"

namespace fastnn {
namespace avx2 {

// r[i] holds row i of an 8x8 block; on return r[j] holds column j.
inline void transpose_8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4h + e], 128-bit lane L: column 4L + e of rows 4h .. 4h+3.
  for (int h = 0; h < 2; ++h) {
    s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x20);
    r[4 + e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x31);
  }
}

// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols (rows, cols <= 8). Rows past `rows` are
// never read; nothing outside the rows x cols image is written.
inline void transpose_block8(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                             int64_t ldd) {
  const __m256i col_mask = first_lanes(cols), row_mask = first_lanes(rows);
  __m256 r[8];
  for (int i = 0; i < 8; ++i)
    r[i] = i < rows ? _mm256_maskload_ps(src + i * lds, col_mask) : _mm256_setzero_ps();
  transpose_8x8(r);
  for (int j = 0; j < 8; ++j)
    if (j < cols) _mm256_maskstore_ps(dst + j * ldd, row_mask, r[j]);
}

}  // namespace avx2
}  // namespace fastnn
