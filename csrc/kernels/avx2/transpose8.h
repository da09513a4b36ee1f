// 8x8 f32 transpose in ymm registers (avx2 folder only: inline in namespace fastnn::avx2, built
// with the folder's flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "lanes.h"

namespace fastnn {
namespace avx2 {

#include "../simd/transpose8_body.h"

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
