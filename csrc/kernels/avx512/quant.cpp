// AVX-512 (F + BW) leaves of the quantized tensors and layers. Contracts: kernel_table.h
// ("Quantized tensors and layers"); ref/quant.cpp is the reference they match bit for bit (same
// float32 operations; max/min put the constant second, so a NaN lane becomes the constant as the
// reference's comparisons make it). f32_quantize_u8 and the u8 layers: ../simd/quant_u8_body.h
// over vec_avx512.h. Every loop runs one body on full blocks and, once, on the masked tail.
// GCC 12's false -W(maybe-)uninitialized in its AVX-512 intrinsics (GCC PR 105593) is silenced
// by vec_avx512.h for the whole file.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../simd/quant_u8_body.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

namespace {

__mmask64 tail64(int64_t n) {
  return n >= 64 ? ~__mmask64(0) : n <= 0 ? 0 : (__mmask64(1) << n) - 1;
}

}  // namespace

void u8_dequantize_f32(const uint8_t* q, float* x, int64_t n, float scale, float zp) {
  const __m512 vs = _mm512_set1_ps(scale), vzp = _mm512_set1_ps(zp);
  auto block = [&](int64_t i, int64_t rem) {
    const __m512i bytes = _mm512_maskz_loadu_epi8(tail64(rem), q + i);
    const __m128i part[4] = {
        _mm512_extracti32x4_epi32(bytes, 0), _mm512_extracti32x4_epi32(bytes, 1),
        _mm512_extracti32x4_epi32(bytes, 2), _mm512_extracti32x4_epi32(bytes, 3)};
    for (int s = 0; s < 4; ++s) {
      const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[s]));
      Vec::store(Vec::first(rem - 16 * s), x + i + 16 * s, _mm512_mul_ps(_mm512_sub_ps(v, vzp), vs));
    }
  };
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) block(i, 64);
  if (i < n) block(i, n - i);
}

int f32_minmax(const float* x, int64_t n, float* lo, float* hi) {
  const __m512 inf = _mm512_set1_ps(__builtin_inff());
  __m512 mn0 = inf, mn1 = inf, mx0 = _mm512_sub_ps(_mm512_setzero_ps(), inf), mx1 = mx0;
  __mmask16 nan = 0;
  // min(v, acc) / max(v, acc): a NaN v yields acc (the second operand), so NaN is skipped.
  auto block = [&](int64_t i, int64_t rem) {
    const __mmask16 m0 = Vec::first(rem), m1 = Vec::first(rem - 16);
    const __m512 a = Vec::load_or(m0, x + i, mn0);
    const __m512 b = Vec::load_or(m1, x + i + 16, mn1);
    const __m512 c = Vec::load_or(m0, x + i, mx0);
    const __m512 d = Vec::load_or(m1, x + i + 16, mx1);
    nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    mn0 = _mm512_min_ps(a, mn0);
    mn1 = _mm512_min_ps(b, mn1);
    mx0 = _mm512_max_ps(c, mx0);
    mx1 = _mm512_max_ps(d, mx1);
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) block(i, 32);
  if (i < n) block(i, n - i);
  *lo = _mm512_reduce_min_ps(_mm512_min_ps(mn0, mn1));
  *hi = _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1));
  return nan != 0;
}

void u8_max_taps(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  auto block = [&](int64_t j, __mmask64 m) {
    __m512i v = _mm512_maskz_loadu_epi8(m, taps[0] + j);
    for (int64_t t = 1; t < ntaps; ++t)
      v = _mm512_max_epu8(v, _mm512_maskz_loadu_epi8(m, taps[t] + j));
    _mm512_mask_storeu_epi8(out + j, m, v);
  };
  int64_t j = 0;
  for (; j + 64 <= c; j += 64) block(j, tail64(64));
  if (j < c) block(j, tail64(c - j));
}

#include "../simd/quant_leaves.h"

}  // namespace avx512
}  // namespace fastnn
