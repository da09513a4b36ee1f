// avx512 leaves of the elementwise layer kernels: instantiations of the shared bodies in
// csrc/kernels/simd/elementwise_body.h with this ISA's lanes (vmath.h). Contracts: kernel_table.h.
#include "../simd/elementwise_body.h"
#include "fastnn/kernel_table.h"
#include "vmath.h"

namespace fastnn {
namespace avx512 {

void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep) {
  simd::act_forward<Simd>(x, y, n, ep);
}
void f32_act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      const Epilogue& ep) {
  simd::act_backward<Simd>(x, y, dy, dx, n, ep);
}
void f32_selu(const float* x, float* y, int64_t n) { simd::selu_forward<Simd>(x, y, n); }
void f32_selu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  simd::selu_backward<Simd>(y, dy, dx, n);
}
void f32_gelu(const float* x, float* y, int64_t n) { simd::gelu_forward<Simd>(x, y, n); }
void f32_gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  simd::gelu_backward<Simd>(x, dy, dx, n);
}
void f32_vmath(int fn, const float* x, float* y, int64_t n) { simd::vmath_eval<Simd>(fn, x, y, n); }
void f32_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  simd::softmax_rows<Simd>(x, y, rows, cols);
}
void f32_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                               int64_t cols) {
  simd::softmax_rows_backward<Simd>(y, dy, dx, rows, cols);
}
void f32_colsum_acc(const float* x, int64_t rows, int64_t cols, int64_t ld, float* ycol) {
  simd::colsum_acc<Simd>(x, rows, cols, ld, ycol);
}
void f32_dropout(const float* x, float* y, int64_t n, uint64_t key, int64_t offset,
                 uint32_t threshold, float scale) {
  simd::dropout<Simd>(x, y, n, key, offset, threshold, scale);
}

}  // namespace avx512
}  // namespace fastnn
