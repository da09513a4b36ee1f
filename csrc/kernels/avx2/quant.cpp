// AVX2 leaves of the quantized tensors and layers. Contracts: kernel_table.h ("Quantized tensors
// and layers"); ref/quant.cpp is the reference they match bit for bit (same float32 operations;
// max/min put the constant second, so a NaN lane becomes the constant as the reference's
// comparisons make it). f32_quantize_u8 and the u8 layers: ../simd/quant_u8_body.h over
// vec_avx2.h (no byte masks in AVX2: a byte tail goes through a small stack buffer).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../simd/quant_u8_body.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

void u8_dequantize_f32(const uint8_t* q, float* x, int64_t n, float scale, float zp) {
  const __m256 vs = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(zp);
  auto block = [&](int64_t i, int64_t rem, const uint8_t* src) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src));
    const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    Vec::store(Vec::first(rem), x + i, _mm256_mul_ps(_mm256_sub_ps(v, vzp), vs));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) block(i, 8, q + i);
  if (i < n) {
    uint8_t buf[8] = {};
    std::memcpy(buf, q + i, static_cast<size_t>(n - i));
    block(i, n - i, buf);
  }
}

int f32_minmax(const float* x, int64_t n, float* lo, float* hi) {
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  __m256 mn = inf, mx = _mm256_sub_ps(_mm256_setzero_ps(), inf), nan = _mm256_setzero_ps();
  auto block = [&](int64_t i, int64_t rem) {
    const __m256i m = Vec::first(rem);
    const __m256 keep = _mm256_castsi256_ps(m);
    const __m256 v = _mm256_maskload_ps(x + i, m);
    // Masked-off lanes take the accumulator's value; min(v, acc) skips a NaN v (second operand).
    mn = _mm256_min_ps(_mm256_blendv_ps(mn, v, keep), mn);
    mx = _mm256_max_ps(_mm256_blendv_ps(mx, v, keep), mx);
    nan = _mm256_or_ps(nan, _mm256_and_ps(keep, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) block(i, 8);
  if (i < n) block(i, n - i);
  alignas(32) float a[8], b[8];
  _mm256_store_ps(a, mn);
  _mm256_store_ps(b, mx);
  float l = a[0], h = b[0];
  for (int j = 1; j < 8; ++j) {
    l = a[j] < l ? a[j] : l;
    h = b[j] > h ? b[j] : h;
  }
  *lo = l;
  *hi = h;
  return _mm256_movemask_ps(nan) != 0;
}

void u8_max_taps(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  simd::u8_max_taps_body<Vec>(taps, ntaps, out, c);
}

#include "../simd/quant_leaves.h"

}  // namespace avx2
}  // namespace fastnn
