// The elementwise and cross-entropy leaves of every SIMD ISA, written once: each
// <isa>/elementwise.cpp includes the template bodies (elementwise_body.h, loss_body.h), its vector
// traits (vec_<isa>.h, struct Vec) and then this file inside namespace fastnn::<isa>, so the same
// wrappers are compiled once per ISA with that ISA's lanes. Contracts: kernel_table.h.
// Include once per translation unit, inside the ISA namespace, after the headers above.
#pragma once

void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep) {
  simd::act_forward<Vec>(x, y, n, ep);
}
void f32_act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      const Epilogue& ep) {
  simd::act_backward<Vec>(x, y, dy, dx, n, ep);
}
void f32_selu(const float* x, float* y, int64_t n) { simd::selu_forward<Vec>(x, y, n); }
void f32_selu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  simd::selu_backward<Vec>(y, dy, dx, n);
}
void f32_gelu(const float* x, float* y, int64_t n) { simd::gelu_forward<Vec>(x, y, n); }
void f32_gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  simd::gelu_backward<Vec>(x, dy, dx, n);
}
void f32_vmath(int fn, const float* x, float* y, int64_t n) { simd::vmath_eval<Vec>(fn, x, y, n); }
void f32_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  simd::softmax_rows<Vec>(x, y, rows, cols);
}
void f32_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                               int64_t cols) {
  simd::softmax_rows_backward<Vec>(y, dy, dx, rows, cols);
}
void f32_log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  simd::log_softmax_rows<Vec>(x, y, rows, cols);
}
void f32_log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                                   int64_t cols) {
  simd::log_softmax_rows_backward<Vec>(y, dy, dx, rows, cols);
}
void f32_act_ext(int op, const float* x, float* y, int64_t n, const ActParams& p) {
  simd::act_ext_forward<Vec>(op, x, y, n, p);
}
void f32_act_ext_backward(int op, const float* x, const float* dy, float* dx, int64_t n,
                          const ActParams& p) {
  simd::act_ext_backward<Vec>(op, x, dy, dx, n, p);
}
void f32_prelu_run(const float* x, float* y, int64_t n, float slope) {
  simd::prelu_run<Vec>(x, y, n, slope);
}
void f32_prelu_run_backward(const float* x, const float* dy, float* dx, int64_t n, float slope,
                            float* dslope) {
  simd::prelu_run_backward<Vec>(x, dy, dx, n, slope, dslope);
}
void f32_prelu_rows(const float* x, float* y, int64_t rows, int64_t cols, const float* slope) {
  simd::prelu_rows<Vec>(x, y, rows, cols, slope);
}
void f32_prelu_rows_backward(const float* x, const float* dy, float* dx, int64_t rows,
                             int64_t cols, const float* slope, float* dslope) {
  simd::prelu_rows_backward<Vec>(x, dy, dx, rows, cols, slope, dslope);
}
void f32_colsum_acc(const float* x, int64_t rows, int64_t cols, int64_t ld, float* ycol) {
  simd::colsum_acc<Vec>(x, rows, cols, ld, ycol);
}
void f32_dropout(const float* x, float* y, int64_t n, uint64_t key, int64_t offset,
                 uint32_t threshold, float scale) {
  simd::dropout<Vec>(x, y, n, key, offset, threshold, scale);
}

void f32_xent_forward(const float* x, int64_t rows, int64_t cols, const int64_t* target,
                      const float* w, float eps, float* lse, float* loss) {
  simd::xent_forward<Vec>(x, rows, cols, target, w, eps, lse, loss);
}
void f32_xent_backward(const float* x, const float* lse, int64_t rows, int64_t cols,
                       const int64_t* target, const float* w, float w_sum, float eps, float scale,
                       const float* row_scale, float* dx) {
  simd::xent_backward<Vec>(x, lse, rows, cols, target, w, w_sum, eps, scale, row_scale, dx);
}
