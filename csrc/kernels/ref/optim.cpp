// [optim] Plain scalar reference of the optimizer updates and reductions, written independently
// of ../optim_body.h (the body the SIMD paths run): one element at a time, each update in the
// order of the algorithm boxes of torch.optim.SGD / Adagrad / RMSprop / Adam / AdamW, the
// reductions accumulated in double. The generic path runs this, and tests compare the ISA paths
// against it.
#include <cmath>
#include <cstdint>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace ref {

namespace {

// The regularisation of OptimReg, applied to one element before the optimizer's own formula:
// decoupled decay scales the parameter (AdamW: theta <- theta * (1 - lr * lambda)), coupled L2
// adds lambda * theta to the gradient, L1 adds l1 * sign(theta) with sign(0) = 0.
void regularize(const OptimReg& reg, float& theta, float& g) {
  if (reg.has_decay) theta = theta * reg.param_scale;
  if (reg.has_l2) g = g + reg.weight_decay * theta;
  if (reg.has_l1) {
    float sign = 0.0f;
    if (theta > 0.0f) sign = 1.0f;
    if (theta < 0.0f) sign = -1.0f;
    g = g + reg.l1 * sign;
  }
}

// For each element i: theta and g read, g regularised, theta <- theta - change(i, g) (change
// updates the optimizer's state of element i), then the new theta times its 0/1 pruning mask, so
// pruned weights stay exactly zero.
template <class Change>
void each_element(const OptimReg& reg, const OptimSpan& s, int64_t n, Change change) {
  for (int64_t i = 0; i < n; ++i) {
    float theta = s.param[i];
    float g = s.grad[i];
    regularize(reg, theta, g);
    theta = theta - change(i, g);
    s.param[i] = s.mask ? theta * s.mask[i] : theta;
  }
}

}  // namespace

// torch.optim.SGD:
//   g <- g (+ regularisation)
//   if mu != 0: b <- (t == 1) ? g : mu * b + (1 - tau) * g
//               g <- nesterov ? g + mu * b : b
//   theta <- theta - lr * g
void f32_sgd_update(const SgdCoef& c, const OptimSpan& s, int64_t n) {
  const float lr = -c.neg_lr;
  each_element(c.reg, s, n, [&](int64_t i, float g) {
    if (c.use_momentum) {
      float b;
      if (c.first) b = g;
      else b = c.momentum * s.s0[i] + c.one_minus_dampening * g;
      s.s0[i] = b;
      if (c.nesterov) g = g + c.momentum * b;
      else g = b;
    }
    return lr * g;
  });
}

// torch.optim.Adagrad (the decayed rate clr = lr / (1 + (t - 1) * eta) comes from the driver):
//   state_sum <- state_sum + g^2
//   theta <- theta - clr * g / (sqrt(state_sum) + eps)
void f32_adagrad_update(const AdagradCoef& c, const OptimSpan& s, int64_t n) {
  const float clr = -c.neg_clr;
  each_element(c.reg, s, n, [&](int64_t i, float g) {
    const float state_sum = s.s0[i] + g * g;
    s.s0[i] = state_sum;
    return clr * (g / (std::sqrt(state_sum) + c.eps));
  });
}

// torch.optim.RMSprop:
//   v <- alpha * v + (1 - alpha) * g^2
//   centered: g_ave <- alpha * g_ave + (1 - alpha) * g;  v~ <- v - g_ave^2   (else v~ = v)
//   mu > 0:   b <- mu * b + g / (sqrt(v~) + eps);  theta <- theta - lr * b
//   else:     theta <- theta - lr * g / (sqrt(v~) + eps)
void f32_rmsprop_update(const RmspropCoef& c, const OptimSpan& s, int64_t n) {
  const float lr = -c.neg_lr;
  each_element(c.reg, s, n, [&](int64_t i, float g) {
    const float v = c.alpha * s.s0[i] + c.one_minus_alpha * (g * g);
    s.s0[i] = v;
    float v_tilde = v;
    if (c.centered) {
      const float g_ave = c.alpha * s.s2[i] + c.one_minus_alpha * g;
      s.s2[i] = g_ave;
      v_tilde = v - g_ave * g_ave;
    }
    const float step = g / (std::sqrt(v_tilde) + c.eps);
    if (!c.use_momentum) return lr * step;
    const float b = c.momentum * s.s1[i] + step;
    s.s1[i] = b;
    return lr * b;
  });
}

// torch.optim.Adam / AdamW (AdamW's decoupled decay is OptimReg's param_scale):
//   m <- beta1 * m + (1 - beta1) * g
//   v <- beta2 * v + (1 - beta2) * g^2
//   amsgrad: v_max <- max(v_max, v), used in place of v below
//   theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The driver folds the bias corrections into step_size = lr / (1 - beta1^t) and
// inv_bc2_sqrt = 1 / sqrt(1 - beta2^t).
void f32_adam_update(const AdamCoef& c, const OptimSpan& s, int64_t n) {
  const float beta1 = 1.0f - c.one_minus_beta1;
  const float step_size = -c.neg_step_size;
  each_element(c.reg, s, n, [&](int64_t i, float g) {
    const float m = beta1 * s.s0[i] + c.one_minus_beta1 * g;
    float v = c.beta2 * s.s1[i] + c.one_minus_beta2 * (g * g);
    s.s0[i] = m;
    s.s1[i] = v;
    if (c.amsgrad) {
      // v_max <- max(v_max, v); where either is NaN, v is taken (a NaN v carries on).
      const float v_max = s.s2[i] > v ? s.s2[i] : v;
      s.s2[i] = v_max;
      v = v_max;
    }
    const float denom = std::sqrt(v) * c.inv_bc2_sqrt + c.eps;
    return step_size * (m / denom);
  });
}

// sum x^2, in double.
double f32_sum_sq(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return total;
}

// sum |x|, in double.
double f32_sum_abs(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::fabs(static_cast<double>(x[i]));
  return total;
}

// max |x| (0 for n = 0); NaN as soon as any element is NaN.
float f32_max_abs(const float* x, int64_t n) {
  float best = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return NAN;
    if (std::fabs(x[i]) > best) best = std::fabs(x[i]);
  }
  return best;
}

// sum |x|^p, in double (the general p-norm of clip_grad_norm / grad_norm).
double f32_sum_abs_pow(const float* x, int64_t n, double p) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::pow(std::fabs(static_cast<double>(x[i])), p);
  return total;
}

// x <- x * s
void f32_scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * s;
}

// x <- min(max(x, lo), hi); a NaN element stays NaN.
void f32_clamp(float* x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] < lo) x[i] = lo;
    else if (x[i] > hi) x[i] = hi;
  }
}

}  // namespace ref
}  // namespace fastnn
