// Linear layer drivers: every product is one call of the packed GEMM (sgemm) reading its operands
// through strided views, so neither the weight nor a non-contiguous input is ever copied.
//   forward:  y  = act(x @ W^T + b)   W^T is W with rows/cols strides swapped; bias and the
//                                     activation run in the GEMM epilogue on tiles still in cache.
//   backward: dx = dy @ W;  dW += dy^T @ x (beta = 1: straight into the gradient buffer);
//             db += colsum(dy).
#include <stdexcept>

#include "fastnn/ops.h"

namespace fastnn {

void linear_forward(const MatView& x, const float* weight, const float* bias, int64_t out_features,
                    const Epilogue& ep, float* y, bool bf16) {
  GemmArgs g;
  g.bf16 = bf16;
  g.a = x;
  g.b = MatView{weight, x.cols, out_features, 1, x.cols};  // W^T: (in x out)
  g.c = y;
  g.ldc = out_features;
  g.bias = bias;
  g.ep = ep;
  sgemm(g);
}

void linear_backward(const float* dy, const MatView& x, const float* weight, int64_t out_features,
                     float* dx, float* grad_w, float* grad_b) {
  const int64_t rows = x.rows, in = x.cols;
  if (dx) {
    GemmArgs g;
    g.a = MatView{dy, rows, out_features, out_features, 1};
    g.b = MatView{weight, out_features, in, in, 1};
    g.c = dx;
    g.ldc = in;
    sgemm(g);
  }
  if (grad_w) {
    GemmArgs g;
    g.a = MatView{dy, out_features, rows, 1, out_features};  // dy^T
    g.b = x;
    g.c = grad_w;
    g.ldc = in;
    g.beta = 1.0f;
    sgemm(g);
  }
  if (grad_b) colsum_accumulate(dy, rows, out_features, grad_b);
}

}  // namespace fastnn
