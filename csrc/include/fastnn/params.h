// Plain structs passed from drivers to leaf kernels. No behaviour here.
#pragma once
#include <cstdint>

#include "fastnn/enum_list.h"

namespace fastnn {

enum class Act : int { none = 0, relu = 1, leaky_relu = 2, elu = 3, sigmoid = 4, tanh = 5 };

// Activations (ops.h unary_forward / unary_backward; fastnn._C.Unary): the five Epilogue
// activations (1-5, equal to Act, which the GEMM epilogue can fuse), SELU and GELU (exact erf
// form), and the codes >= 8 that run through the f32_act_ext leaves with the constants of
// ActParams (below). One line here adds an activation's code, Python name and message label.
#define FASTNN_UNARY_LIST(X)                                                                 \
  X(relu, 1, "ReLU") X(leaky_relu, 2, "LeakyReLU") X(elu, 3, "ELU") X(sigmoid, 4, "Sigmoid") \
  X(tanh, 5, "Tanh") X(selu, 6, "SELU") X(gelu, 7, "GELU")                                   \
  X(hardtanh, 8, "Hardtanh") X(hardsigmoid, 9, "Hardsigmoid") X(hardswish, 10, "Hardswish")  \
  X(softplus, 11, "Softplus") X(softsign, 12, "Softsign")                                    \
  X(mish, 13, "Mish")
FASTNN_DEFINE_ENUM(Unary, FASTNN_UNARY_LIST)

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
