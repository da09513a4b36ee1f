// AVX-512 direct-convolution micro-kernel, 14x32 register tile (14 output pixels x 32 output
// channels): 28 zmm accumulators, 2 zmm of the packed weight panel per step, and the 14 input
// values of a step broadcast straight from the padded input at a_base + a_off[p], a_step apart
// (the conv's stride; no packing of the im2col operand). GCC versions the loops for a_step == 1. Contract: kernel_table.h (f32_conv_ukr_fn). Edge tiles (m < 14, n < 32)
// use the same body with masked stores. Also the weight-gradient kernel of the same tile.
#include <immintrin.h>

#include <algorithm>  // (vec_avx512.h)
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

namespace {
constexpr int kMR = 14, kNR = 32;
// The m x n corner of the 14 x 32 accumulator tile into (or, accumulating, onto) C.
__attribute__((always_inline)) inline void store_tile(const __m512 (&vacc)[kMR][2], float* c,
                                                      int64_t ldc, int64_t m, int64_t n,
                                                      int accumulate) {
  const __mmask16 mask0 = Vec::first(n), mask1 = Vec::first(n - 16);
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) continue;
    float* ci = c + i * ldc;
    __m512 v0 = vacc[i][0], v1 = vacc[i][1];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, Vec::load(mask0, ci));
      v1 = _mm512_add_ps(v1, Vec::load(mask1, ci + 16));
    }
    Vec::store(mask0, ci, v0);
    Vec::store(mask1, ci + 16, v1);
  }
}
}  // namespace

void f32_conv_ukr_14x32(int64_t k, const float* a_base, const int64_t* a_off, int64_t a_step,
                        const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        int accumulate) {
  __m512 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* a = a_base + a_off[p];
    const __m512 vb0 = _mm512_load_ps(b);
    const __m512 vb1 = _mm512_load_ps(b + 16);
    b += kNR;
    for (int i = 0; i < kMR; ++i) {
      const __m512 va = _mm512_set1_ps(a[i * a_step]);
      vacc[i][0] = _mm512_fmadd_ps(va, vb0, vacc[i][0]);
      vacc[i][1] = _mm512_fmadd_ps(va, vb1, vacc[i][1]);
    }
  }
  store_tile(vacc, c, ldc, m, n, accumulate);
}

// Weight-gradient variant: the 14 rows of A are 14 im2col rows (taps) read in place through row
// pointers, the contraction runs over `rows` output rows of `row_len` pixels (a_stride apart and
// a_step within a row in the taps, back to back in the packed B panel of dY^T). Contract: kernel_table.h
// (f32_conv_wgrad_ukr_fn).
void f32_conv_wgrad_ukr_14x32(const float* const* a_rows, int64_t rows, int64_t row_len,
                              int64_t a_stride, int64_t a_step, const float* b, float* c,
                              int64_t ldc, int64_t m, int64_t n, int accumulate) {
  __m512 vacc[kMR][2];
  for (int i = 0; i < kMR; ++i) vacc[i][0] = vacc[i][1] = _mm512_setzero_ps();
  const float* a[kMR];
  for (int i = 0; i < kMR; ++i) a[i] = a_rows[i];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t x = 0; x < row_len; ++x) {
      const __m512 vb0 = _mm512_load_ps(b);
      const __m512 vb1 = _mm512_load_ps(b + 16);
      b += kNR;
      for (int i = 0; i < kMR; ++i) {
        const __m512 va = _mm512_set1_ps(a[i][x * a_step]);
        vacc[i][0] = _mm512_fmadd_ps(va, vb0, vacc[i][0]);
        vacc[i][1] = _mm512_fmadd_ps(va, vb1, vacc[i][1]);
      }
    }
    for (int i = 0; i < kMR; ++i) a[i] += a_stride;
  }
  store_tile(vacc, c, ldc, m, n, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
