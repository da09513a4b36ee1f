// AVX2+FMA f32 GEMM micro-kernel, 6x16 register tile: 12 ymm accumulators, 2 ymm of B and 6
// broadcasts of A per k step (12 FMAs per 8 loads: both FMA pipes busy within the 16 ymm).
// Edge tiles (m < 6, n < 16) run the same loop and differ only in the masked stores. The rows of C
// the tile touches are prefetched on entry so their misses overlap the k loop.
#include <immintrin.h>

#include "fastnn/kernel_table.h"
#include "gemm_avx2_util.h"

namespace fastnn {
namespace avx2 {

constexpr int kMR = 6, kNR = 16;

void f32_gemm_ukr_6x16(int64_t k, const float* __restrict a, const float* __restrict b,
                       float* __restrict c, int64_t ldc, int64_t m, int64_t n, float alpha,
                       int accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    const char* row = reinterpret_cast<const char*>(c + i * ldc);
    _mm_prefetch(row, _MM_HINT_T0);
    _mm_prefetch(row + 4 * (n - 1), _MM_HINT_T0);
  }
  __m256 vacc[kMR][2];
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 vb0 = _mm256_load_ps(b);
    const __m256 vb1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const __m256 va = _mm256_broadcast_ss(a + i);
      vacc[i][0] = _mm256_fmadd_ps(va, vb0, vacc[i][0]);
      vacc[i][1] = _mm256_fmadd_ps(va, vb1, vacc[i][1]);
    }
    a += kMR;
    b += kNR;
  }
  const __m256 valpha = _mm256_set1_ps(alpha);
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = _mm256_mul_ps(vacc[i][0], valpha);
    __m256 v1 = _mm256_mul_ps(vacc[i][1], valpha);
    if (accumulate) {
      v0 = _mm256_add_ps(v0, load8(ci, n));
      v1 = _mm256_add_ps(v1, load8(ci + 8, n - 8));
    }
    store8(ci, v0, n);
    store8(ci + 8, v1, n - 8);
  }
}

}  // namespace avx2
}  // namespace fastnn
