// AVX2+FMA direct-convolution micro-kernels, 6x16 register tile (6 output pixels or taps x 16
// output channels): 12 ymm accumulators, 2 ymm of the packed panel per step, the 6 A values of a
// step broadcast straight from where they lie, a_step apart (no packing of the im2col operand). Contracts:
// kernel_table.h (f32_conv_ukr_fn, f32_conv_wgrad_ukr_fn). Edge tiles use the same body with
// masked stores.
//
// The accumulators are named registers (vacc0lo .. vacc5hi) rather than an array: with an array
// GCC keeps a memory copy and stores every accumulator on every step. FASTNN_ROWS applies a
// per-row statement to rows 0..5.
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

namespace {

constexpr int kMR = 6, kNR = 16;

#define FASTNN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define FASTNN_DECLARE(i) __m256 vacc##i##lo = _mm256_setzero_ps(), vacc##i##hi = _mm256_setzero_ps();
#define FASTNN_FMA(i, a_i)                                      \
  {                                                             \
    const __m256 va = _mm256_broadcast_ss(a_i);                 \
    vacc##i##lo = _mm256_fmadd_ps(va, vb0, vacc##i##lo);        \
    vacc##i##hi = _mm256_fmadd_ps(va, vb1, vacc##i##hi);        \
  }
#define FASTNN_STORE(i)                                                      \
  if (i < m) {                                                               \
    float* ci = c + i * ldc;                                                 \
    __m256 v0 = vacc##i##lo, v1 = vacc##i##hi;                               \
    if (accumulate) {                                                        \
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, mask0));                 \
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, mask1));             \
    }                                                                        \
    _mm256_maskstore_ps(ci, mask0, v0);                                      \
    _mm256_maskstore_ps(ci + 8, mask1, v1);                                  \
  }

}  // namespace

void f32_conv_ukr_6x16(int64_t k, const float* a_base, const int64_t* a_off, int64_t a_step,
                       const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                       int accumulate) {
  FASTNN_ROWS(FASTNN_DECLARE)
  for (int64_t p = 0; p < k; ++p) {
    const float* a = a_base + a_off[p];
    const __m256 vb0 = _mm256_load_ps(b);
    const __m256 vb1 = _mm256_load_ps(b + 8);
    b += kNR;
#define FASTNN_STEP(i) FASTNN_FMA(i, a + i * a_step)
    FASTNN_ROWS(FASTNN_STEP)
#undef FASTNN_STEP
  }
  const __m256i mask0 = Vec::first(n), mask1 = Vec::first(n - 8);
  FASTNN_ROWS(FASTNN_STORE)
}

// Weight-gradient variant: the 6 rows of A are 6 im2col rows (taps) read in place through row
// pointers, the contraction runs over `rows` output rows of `row_len` pixels (a_stride apart and
// a_step within a row in the taps, back to back in the packed B panel of dY^T).
void f32_conv_wgrad_ukr_6x16(const float* const* a_rows, int64_t rows, int64_t row_len,
                             int64_t a_stride, int64_t a_step, const float* b, float* c,
                             int64_t ldc, int64_t m, int64_t n, int accumulate) {
  FASTNN_ROWS(FASTNN_DECLARE)
  const float *a0 = a_rows[0], *a1 = a_rows[1], *a2 = a_rows[2], *a3 = a_rows[3],
              *a4 = a_rows[4], *a5 = a_rows[5];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t x = 0; x < row_len; ++x) {
      const __m256 vb0 = _mm256_load_ps(b);
      const __m256 vb1 = _mm256_load_ps(b + 8);
      b += kNR;
#define FASTNN_STEP(i) FASTNN_FMA(i, a##i + x * a_step)
      FASTNN_ROWS(FASTNN_STEP)
#undef FASTNN_STEP
    }
    a0 += a_stride; a1 += a_stride; a2 += a_stride; a3 += a_stride; a4 += a_stride; a5 += a_stride;
  }
  const __m256i mask0 = Vec::first(n), mask1 = Vec::first(n - 8);
  FASTNN_ROWS(FASTNN_STORE)
}

#undef FASTNN_ROWS
#undef FASTNN_DECLARE
#undef FASTNN_FMA
#undef FASTNN_STORE

}  // namespace avx2
}  // namespace fastnn
