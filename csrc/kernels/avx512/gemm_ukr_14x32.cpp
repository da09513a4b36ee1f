// AVX-512 f32 GEMM micro-kernel, 14x32 register tile: 28 zmm accumulators, 2 zmm of B per k step,
// A broadcast from memory. Edge tiles (m < 14, n < 32) use the same body with masked stores.
#include <immintrin.h>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

constexpr int kMR = 14, kNR = 32;

void f32_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate) {
  __m512 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 vb0 = _mm512_load_ps(b);
    const __m512 vb1 = _mm512_load_ps(b + 16);
    b += kNR;
    for (int i = 0; i < kMR; ++i) {
      const __m512 va = _mm512_set1_ps(a[i]);
      vacc[i][0] = _mm512_fmadd_ps(va, vb0, vacc[i][0]);
      vacc[i][1] = _mm512_fmadd_ps(va, vb1, vacc[i][1]);
    }
    a += kMR;
  }
  const __m512 valpha = _mm512_set1_ps(alpha);
  const __mmask16 mask0 = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
  const __mmask16 mask1 = n >= 32 ? __mmask16(0xffff) : (n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1u));
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m512 v0 = _mm512_mul_ps(vacc[i][0], valpha);
    __m512 v1 = _mm512_mul_ps(vacc[i][1], valpha);
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mask0, ci));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask1, ci + 16));
    }
    _mm512_mask_storeu_ps(ci, mask0, v0);
    _mm512_mask_storeu_ps(ci + 16, mask1, v1);
  }
}

}  // namespace avx512
}  // namespace fastnn
