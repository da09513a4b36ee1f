// Plain structs passed from drivers to leaf kernels. No behaviour here.
#pragma once
#include <cstdint>

namespace fastnn {

enum class Act : int { none = 0, relu = 1, leaky_relu = 2, elu = 3, sigmoid = 4, tanh = 5 };

// A fused output transform: y = act(x) with its parameter (negative_slope for leaky_relu,
// alpha for elu; unused otherwise).
struct Epilogue {
  Act act = Act::none;
  float param = 0.0f;
};

// The constants of the activations that are not GEMM epilogues (ops.h Unary codes >= 8), as the
// leaves f32_act_ext / f32_act_ext_backward read them (the frame fills them; unused fields 0):
//   hardtanh: y = min(hi, max(lo, x)); slope 1 where lo < x < hi (NaN passes the gradient, as
//     PyTorch's hardtanh_backward).
//   hardsigmoid: y = min(1, max(0, a x + b)) (a = alpha, b = beta); slope a where lo < x < hi,
//     the interval where 0 < a x + b < 1, solved by the frame in double so that PyTorch's
//     (-3, 3) for a = 1/6, b = 1/2 is exact.
//   softplus: y = x where a x > b, else log(1 + exp(a x)) / a (a = beta, b = threshold);
//     slope 1 above the threshold, sigmoid(a x) below.
//   hardswish, softsign: no constants.
struct ActParams {
  float a = 0.0f, b = 0.0f, lo = 0.0f, hi = 0.0f;
};

// A strided read-only matrix view: element (i, j) lives at data[i * rs + j * cs].
// Transposition is a swap of rs and cs; no copy.
struct MatView {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t rs = 0, cs = 0;
};

}  // namespace fastnn
