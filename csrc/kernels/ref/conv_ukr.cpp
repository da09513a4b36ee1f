// Portable direct-convolution micro-kernels (8x8 tile: forward and weight gradient), the
// references for the ISA versions.
// Contract: kernel_table.h (f32_conv_ukr_fn).
#include <cmath>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

namespace {
constexpr int kMR = 8, kNR = 8;
}

void f32_conv_ukr_8x8(int64_t k, const float* a_base, const int64_t* a_off, int64_t a_step,
                      const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                      int accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* a = a_base + a_off[p];
    const float* bp = b + p * kNR;
    for (int i = 0; i < kMR; ++i)
      for (int j = 0; j < kNR; ++j) acc[i][j] += a[i * a_step] * bp[j];
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = accumulate ? *cij + acc[i][j] : acc[i][j];
    }
}

void f32_conv_wgrad_ukr_8x8(const float* const* a_rows, int64_t rows, int64_t row_len,
                            int64_t a_stride, int64_t a_step, const float* b, float* c,
                            int64_t ldc, int64_t m, int64_t n, int accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t x = 0; x < row_len; ++x) {
      const float* bp = b + (r * row_len + x) * kNR;
      for (int i = 0; i < kMR; ++i)
        for (int j = 0; j < kNR; ++j) acc[i][j] += a_rows[i][r * a_stride + x * a_step] * bp[j];
    }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = accumulate ? *cij + acc[i][j] : acc[i][j];
    }
}

// y[j][ox] = bias[j] + the taps in increasing t, written from the definition.
void f32_conv_taps_row(const float* src, const int64_t* off, int64_t taps, const float* w,
                       const float* bias, int64_t k, int64_t ow, float* y, int64_t ldy) {
  for (int64_t j = 0; j < k; ++j)
    for (int64_t ox = 0; ox < ow; ++ox) {
      float acc = bias ? bias[j] : 0.0f;
      for (int64_t t = 0; t < taps; ++t) acc = std::fma(w[j * taps + t], src[off[t] + ox], acc);
      y[j * ldy + ox] = acc;
    }
}

}  // namespace ref
}  // namespace fastnn
