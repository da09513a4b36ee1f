// AVX2+FMA direct-convolution micro-kernel, 6x16 register tile (6 output pixels x 16 output
// channels): 12 ymm accumulators, 2 ymm of the packed weight panel per step, the 6 input values
// broadcast straight from the padded input at a_base + a_off[p]. Contract: kernel_table.h
// (f32_conv_ukr_fn). Edge tiles use the same body with masked stores. Also the weight-gradient
// kernel of the same tile.
#include <immintrin.h>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

namespace {
constexpr int kMR = 6, kNR = 16;
inline __m256i lanes(int64_t n) {  // lanes [0, n) on
  const int64_t c = n < 0 ? 0 : (n > 8 ? 8 : n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
}  // namespace

void f32_conv_ukr_6x16(int64_t k, const float* a_base, const int64_t* a_off, const float* b,
                       float* c, int64_t ldc, int64_t m, int64_t n, int accumulate) {
  __m256 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* a = a_base + a_off[p];
    const __m256 vb0 = _mm256_load_ps(b);
    const __m256 vb1 = _mm256_load_ps(b + 8);
    b += kNR;
    for (int i = 0; i < kMR; ++i) {
      const __m256 va = _mm256_broadcast_ss(a + i);
      vacc[i][0] = _mm256_fmadd_ps(va, vb0, vacc[i][0]);
      vacc[i][1] = _mm256_fmadd_ps(va, vb1, vacc[i][1]);
    }
  }
  const __m256i mask0 = lanes(n), mask1 = lanes(n - 8);
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = vacc[i][0], v1 = vacc[i][1];
    if (accumulate) {
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, mask0));
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, mask1));
    }
    _mm256_maskstore_ps(ci, mask0, v0);
    _mm256_maskstore_ps(ci + 8, mask1, v1);
  }
}

// Weight-gradient variant: the 6 rows of A are 6 im2col rows (taps) read in place through row
// pointers, the contraction runs over `rows` output rows of `row_len` pixels (a_stride apart in
// the taps, back to back in the packed B panel of dY^T). Contract: kernel_table.h
// (f32_conv_wgrad_ukr_fn).
void f32_conv_wgrad_ukr_6x16(const float* const* a_rows, int64_t rows, int64_t row_len,
                             int64_t a_stride, const float* b, float* c, int64_t ldc, int64_t m,
                             int64_t n, int accumulate) {
  __m256 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm256_setzero_ps();
  const float* a[kMR];
  for (int i = 0; i < kMR; ++i) a[i] = a_rows[i];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t x = 0; x < row_len; ++x) {
      const __m256 vb0 = _mm256_load_ps(b);
      const __m256 vb1 = _mm256_load_ps(b + 8);
      b += kNR;
      for (int i = 0; i < kMR; ++i) {
        const __m256 va = _mm256_broadcast_ss(a[i] + x);
        vacc[i][0] = _mm256_fmadd_ps(va, vb0, vacc[i][0]);
        vacc[i][1] = _mm256_fmadd_ps(va, vb1, vacc[i][1]);
      }
    }
    for (int i = 0; i < kMR; ++i) a[i] += a_stride;
  }
  const __m256i mask0 = lanes(n), mask1 = lanes(n - 8);
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = vacc[i][0], v1 = vacc[i][1];
    if (accumulate) {
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, mask0));
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, mask1));
    }
    _mm256_maskstore_ps(ci, mask0, v0);
    _mm256_maskstore_ps(ci + 8, mask1, v1);
  }
}

}  // namespace avx2
}  // namespace fastnn
