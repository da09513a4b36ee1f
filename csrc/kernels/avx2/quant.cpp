// AVX2 leaves of the quantized tensors and layers. Contracts: kernel_table.h ("Quantized tensors
// and layers"); ref/quant.cpp is the reference they match bit for bit (same float32 operations;
// vroundps to nearest = std::nearbyint; max/min put the constant second, so a NaN lane becomes
// the constant as the reference's comparisons make it). AVX2 has no byte masks: a tail of fewer
// than a block of bytes goes through a small stack buffer, by the same body.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../simd/quant_u8_body.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

namespace {

__m256i tail8(int64_t n) {
  const int32_t k = n >= 8 ? 8 : n <= 0 ? 0 : int32_t(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256i quantize8(__m256 x, __m256 vinv, __m256 vzp) {
  __m256 v = _mm256_round_ps(_mm256_mul_ps(x, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_add_ps(v, vzp);
  v = _mm256_max_ps(v, _mm256_setzero_ps());  // NaN -> 0 (second operand)
  v = _mm256_min_ps(v, _mm256_set1_ps(255.0f));
  return _mm256_cvtps_epi32(v);
}

}  // namespace

// 32 elements per block: four 8-lane conversions, packed (per 128-bit lane) and reordered into
// one 32-byte store.
void f32_quantize_u8(const float* x, uint8_t* q, int64_t n, float inv_scale, float zp) {
  const __m256 vinv = _mm256_set1_ps(inv_scale), vzp = _mm256_set1_ps(zp);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  auto block = [&](int64_t i, int64_t rem, uint8_t* dst) {
    const __m256i a = quantize8(_mm256_maskload_ps(x + i, tail8(rem)), vinv, vzp);
    const __m256i b = quantize8(_mm256_maskload_ps(x + i + 8, tail8(rem - 8)), vinv, vzp);
    const __m256i c = quantize8(_mm256_maskload_ps(x + i + 16, tail8(rem - 16)), vinv, vzp);
    const __m256i d = quantize8(_mm256_maskload_ps(x + i + 24, tail8(rem - 24)), vinv, vzp);
    const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(bytes, order));
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) block(i, 32, q + i);
  if (i < n) {
    alignas(32) uint8_t buf[32];
    block(i, n - i, buf);
    std::memcpy(q + i, buf, static_cast<size_t>(n - i));
  }
}

void u8_dequantize_f32(const uint8_t* q, float* x, int64_t n, float scale, float zp) {
  const __m256 vs = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(zp);
  auto block = [&](int64_t i, int64_t rem, const uint8_t* src) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src));
    const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    _mm256_maskstore_ps(x + i, tail8(rem), _mm256_mul_ps(_mm256_sub_ps(v, vzp), vs));
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
    const __m256i m = tail8(rem);
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
  simd::u8_max_taps_body<__m256i>(taps, ntaps, out, c);
}

void u8_sum_rows(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  simd::u8_sum_rows_body<__m256i>(x, rows, c, acc);
}

void u8_maxpool_row(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw, int64_t c,
                    int64_t count, uint8_t* out) {
  simd::u8_maxpool_row_body<__m256i>(rows, nrows, kw, sw, c, count, out);
}

void u8_im2col_band(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0, int64_t p0,
                    int64_t count, uint8_t* dst) {
  simd::u8_im2col_band_body<__m256i>(g, xp, xs, y0, p0, count, dst);
}

}  // namespace avx2
}  // namespace fastnn
