// The int8 GEMM epilogue of kernel_table.h on one 16-column vector of int32 accumulators, shared
// by the VNNI micro-kernel (gemm_s8.cpp) and the AMX tile kernel (gemm_s8_amx.cpp): the same
// instructions, so both paths give the same bits. AVX-512F/BW only.
#pragma once
#include <immintrin.h>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

// Columns [16 h, 16 h + 16) of the epilogue's per-column arrays; c is the row's first column.
inline void s8_store16(__m512i acc, const S8Epilogue& ep, int h, void* c, __mmask16 mask) {
  const __m512i v = _mm512_add_epi32(acc, _mm512_loadu_si512(ep.offset + 16 * h));
  if (ep.out == S8Out::s32) {
    _mm512_mask_storeu_epi32(static_cast<int32_t*>(c) + 16 * h, mask, v);
    return;
  }
  __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_loadu_ps(ep.scale + 16 * h),
                             _mm512_loadu_ps(ep.shift + 16 * h));
  if (ep.out == S8Out::f32) {
    // max_ps returns its second operand for NaN and for +-0 pairs: matches (y > 0 ? y : +0).
    if (ep.relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(static_cast<float*>(c) + 16 * h, mask, y);
  } else {
    y = _mm512_max_ps(y, _mm512_set1_ps(ep.lo));
    y = _mm512_min_ps(y, _mm512_set1_ps(ep.hi));
    const __m512i q = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_cvtepi32_storeu_epi8(static_cast<uint8_t*>(c) + 16 * h, mask, q);
  }
}

// Store masks of a 32-column panel with n valid columns (1 <= n <= 32).
inline __mmask16 s8_mask_lo(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
}
inline __mmask16 s8_mask_hi(int64_t n) {
  return n >= 32 ? __mmask16(0xffff) : (n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1u));
}

}  // namespace avx512
}  // namespace fastnn
