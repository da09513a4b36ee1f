// 16x16 f32 transpose in zmm registers (avx512 folder only: built with the folder's flags, inline
// in namespace fastnn::avx512 so it never leaks into code compiled for older CPUs).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "lanes.h"

namespace fastnn {
namespace avx512 {

#include "../simd/transpose16_body.h"

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
