// AVX2+FMA f32 GEMM micro-kernel, 6x16 register tile: 12 ymm accumulators, 2 ymm of B per k step,
// A broadcast from memory. Edge tiles use the same body with masked stores.
#include <immintrin.h>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

constexpr int kMR = 6, kNR = 16;

namespace {
inline __m256i tail_mask(int64_t n) {  // lanes [0, n) on, n in [0, 8]
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}
}  // namespace

void f32_gemm_ukr_6x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate) {
  __m256 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 vb0 = _mm256_load_ps(b);
    const __m256 vb1 = _mm256_load_ps(b + 8);
    b += kNR;
    for (int i = 0; i < kMR; ++i) {
      const __m256 va = _mm256_broadcast_ss(a + i);
      vacc[i][0] = _mm256_fmadd_ps(va, vb0, vacc[i][0]);
      vacc[i][1] = _mm256_fmadd_ps(va, vb1, vacc[i][1]);
    }
    a += kMR;
  }
  const __m256 valpha = _mm256_set1_ps(alpha);
  const __m256i mask0 = tail_mask(n < 8 ? n : 8);
  const __m256i mask1 = tail_mask(n > 8 ? n - 8 : 0);
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = _mm256_mul_ps(vacc[i][0], valpha);
    __m256 v1 = _mm256_mul_ps(vacc[i][1], valpha);
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
