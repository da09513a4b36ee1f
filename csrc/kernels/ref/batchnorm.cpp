// Row and column reductions and affine maps for batch norm and global pooling: the plain reference
// (double accumulation, one element at a time), independent of the SIMD bodies in
// ../simd/rows_body.h that the ISA tables use. Contracts: kernel_table.h.
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_row_moments(const float* x, int64_t n, float shift, float* sum, float* sumsq) {
  double s = 0.0, q = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    s += d;
    q += d * d;
  }
  *sum = static_cast<float>(s);
  *sumsq = static_cast<float>(q);
}

void f32_row_affine(const float* x, float* y, int64_t n, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = a * x[i] + b;
}

void f32_row_dot2(const float* dy, const float* x, int64_t n, float shift, float* sdy, float* sdyx) {
  double s = 0.0, p = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    s += dy[i];
    p += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - shift);
  }
  *sdy = static_cast<float>(s);
  *sdyx = static_cast<float>(p);
}

void f32_row_affine2(const float* dy, const float* x, float* dx, int64_t n, float a, float b,
                     float c) {
  for (int64_t i = 0; i < n; ++i) dx[i] = a * dy[i] + (b * x[i] + c);
}

void f32_col_moments(const float* x, int64_t rows, int64_t ld, int64_t cols, const float* shift,
                     float* sum, float* sumsq) {
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0.0, q = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      const double d = static_cast<double>(x[i * ld + j]) - shift[j];
      s += d;
      q += d * d;
    }
    sum[j] = static_cast<float>(s);
    sumsq[j] = static_cast<float>(q);
  }
}

void f32_col_affine(const float* x, float* y, int64_t rows, int64_t ld, int64_t cols,
                    const float* a, const float* b) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) y[i * ld + j] = a[j] * x[i * ld + j] + b[j];
}

void f32_col_dot2(const float* dy, const float* x, int64_t rows, int64_t ld, int64_t cols,
                  const float* shift, float* sdy, float* sdyx) {
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0.0, p = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      s += dy[i * ld + j];
      p += static_cast<double>(dy[i * ld + j]) * (static_cast<double>(x[i * ld + j]) - shift[j]);
    }
    sdy[j] = static_cast<float>(s);
    sdyx[j] = static_cast<float>(p);
  }
}

void f32_col_affine2(const float* dy, const float* x, float* dx, int64_t rows, int64_t ld,
                     int64_t cols, const float* a, const float* b, const float* c) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t o = i * ld + j;
      dx[o] = a[j] * dy[o] + (b[j] * x[o] + c[j]);
    }
}

}  // namespace ref
}  // namespace fastnn
