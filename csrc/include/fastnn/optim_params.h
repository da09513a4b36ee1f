// [optim] Plain structs passed from the optimizer driver (frame/optim.cpp) to the leaf update
// kernels (kernels/optim_body.h, instantiated in kernels/<isa>/bodies.cpp). No behaviour here.
//
// Every coefficient is computed once per parameter per step by the driver, in double, and rounded
// to float once, as torch does when it passes a Python float to a float32 tensor op.
#pragma once
#include <cstdint>

namespace fastnn {

// One contiguous range of one parameter and the matching ranges of the optimizer's flat state
// buffers. grad is read-only; mask (0/1 pruning mask) may be null; state pointers are null where
// the optimizer does not use that buffer.
struct OptimSpan {
  float* param = nullptr;
  const float* grad = nullptr;
  const float* mask = nullptr;
  float* s0 = nullptr;  // sgd: momentum_buffer; adagrad: sum; rmsprop: square_avg; adam: exp_avg
  float* s1 = nullptr;  // rmsprop: momentum_buffer; adam: exp_avg_sq
  float* s2 = nullptr;  // rmsprop: grad_avg; adam: max_exp_avg_sq
};

// Regularisation folded into the gradient before the optimizer's own formula:
//   p <- p * param_scale                      (decoupled weight decay, AdamW: 1 - lr * wd)
//   g <- g + weight_decay * p + l1 * sign(p)  (coupled L2 as torch, then L1; sign(0) = 0)
// The has_* flags let a kernel skip the work when an option is off.
struct OptimReg {
  float weight_decay = 0.0f;
  float l1 = 0.0f;
  float param_scale = 1.0f;
  bool has_l2 = false, has_l1 = false, has_decay = false;
};

// torch.optim.SGD. buf <- first ? g : momentum * buf + (1 - dampening) * g;
// d <- nesterov ? g + momentum * buf : buf (d = g without momentum); p <- p - lr * d.
struct SgdCoef {
  OptimReg reg;
  float neg_lr = 0.0f;
  float momentum = 0.0f;
  float one_minus_dampening = 1.0f;
  bool use_momentum = false, nesterov = false, first = false;
};

// torch.optim.Adagrad. sum <- sum + g*g; p <- p - clr * g / (sqrt(sum) + eps),
// clr = lr / (1 + (step - 1) * lr_decay).
struct AdagradCoef {
  OptimReg reg;
  float neg_clr = 0.0f;
  float eps = 0.0f;
};

// torch.optim.RMSprop. sq <- alpha * sq + (1 - alpha) * g*g;
// centered: ga <- lerp(ga, g, 1 - alpha), avg = sqrt(sq - ga*ga) + eps; else avg = sqrt(sq) + eps;
// momentum: buf <- momentum * buf + g / avg, p <- p - lr * buf; else p <- p - lr * g / avg.
struct RmspropCoef {
  OptimReg reg;
  float neg_lr = 0.0f;
  float alpha = 0.0f, one_minus_alpha = 0.0f;
  float eps = 0.0f;
  float momentum = 0.0f;
  bool use_momentum = false, centered = false;
};

// torch.optim.Adam / AdamW. m <- lerp(m, g, 1 - beta1); v <- beta2 * v + (1 - beta2) * g*g;
// amsgrad: vmax <- max(vmax, v) and vmax replaces v below;
// p <- p + neg_step_size * m / (sqrt(v) * inv_bc2_sqrt + eps),
// neg_step_size = -lr / (1 - beta1^t), inv_bc2_sqrt = 1 / sqrt(1 - beta2^t).
struct AdamCoef {
  OptimReg reg;
  float one_minus_beta1 = 0.0f;
  float beta2 = 0.0f, one_minus_beta2 = 0.0f;
  float neg_step_size = 0.0f;
  float inv_bc2_sqrt = 1.0f;
  float eps = 0.0f;
  bool amsgrad = false;
};

}  // namespace fastnn
