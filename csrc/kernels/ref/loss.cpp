// Portable reference leaves of the loss kernels (contracts: kernel_table.h). Cross-entropy here is
// the reference for the SIMD bodies in csrc/kernels/simd/loss_body.h; the pointwise losses (MSE,
// Huber, BCE-with-logits) are memory-bound one-liners and this is their only leaf, shared by
// every ISA's table.
#include <cmath>
#include <vector>
#include <cstdint>
#include <limits>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_xent_forward(const float* x, int64_t rows, int64_t cols, const int64_t* target,
                      const float* w, float eps, float* lse, float* loss) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < cols; ++j) mx = std::fmax(mx, xr[j]);
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(double(xr[j]) - mx);
    const double l = mx + std::log(s);
    const int64_t t = target[r];
    const double wt = w ? w[t] : 1.0;
    double li = (1.0 - eps) * wt * (l - xr[t]);
    if (eps != 0.0f) {
      double sm = 0.0;
      for (int64_t j = 0; j < cols; ++j) sm += (w ? w[j] : 1.0) * (l - xr[j]);
      li += double(eps) / double(cols) * sm;
    }
    lse[r] = static_cast<float>(l);
    loss[r] = static_cast<float>(li);
  }
}

void f32_xent_backward(const float* x, const float* lse, int64_t rows, int64_t cols,
                       const int64_t* target, const float* w, float /*w_sum: summed here*/,
                       float eps, float scale, const float* row_scale, float* dx) {
  // From the definition: the weighted target distribution q (label smoothing spreads eps over
  // the classes), dL/dx_j = s * (softmax_j * sum(q) - q_j), in double.
  std::vector<double> q(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = target[r];
    double total = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      q[j] = double(eps) / double(cols) * (w ? double(w[j]) : 1.0);
      if (j == t) q[j] += (1.0 - double(eps)) * (w ? double(w[j]) : 1.0);
      total += q[j];
    }
    const double s = double(scale) * (row_scale ? double(row_scale[r]) : 1.0);
    for (int64_t j = 0; j < cols; ++j) {
      const double p = std::exp(double(x[r * cols + j]) - double(lse[r]));
      dx[r * cols + j] = static_cast<float>(s * (p * total - q[j]));
    }
  }
}

namespace {

// softplus(-x) = log(1 + exp(-x)), without overflow for any x.
inline float softplus_neg(float x) { return std::log1p(std::exp(-std::fabs(x))) + std::fmax(-x, 0.0f); }

inline float pos_weight_at(const PointwiseLoss& l, int64_t i) {
  return l.pos_weight ? l.pos_weight[i % l.pw_len] : 1.0f;
}

}  // namespace

double f32_pointwise_loss(const PointwiseLoss& l, const float* x, const float* t, const float* w,
                          int64_t offset, int64_t n, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - t[i];
    float v = 0.0f;
    switch (l.kind) {
      case PointwiseLossKind::mse: v = d * d; break;
      case PointwiseLossKind::huber: {
        const float a = std::fabs(d);
        v = a < l.delta ? 0.5f * d * d : l.delta * (a - 0.5f * l.delta);
        break;
      }
      case PointwiseLossKind::bce_logits: {
        const float lw = 1.0f + (pos_weight_at(l, offset + i) - 1.0f) * t[i];
        v = (1.0f - t[i]) * x[i] + lw * softplus_neg(x[i]);
        break;
      }
    }
    if (w) v *= w[i];
    if (out) out[i] = v;
    sum += v;
  }
  return sum;
}

void f32_pointwise_loss_backward(const PointwiseLoss& l, const float* x, const float* t,
                                 const float* w, int64_t offset, int64_t n, const float* g,
                                 float scale, float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - t[i];
    float v = 0.0f;
    switch (l.kind) {
      case PointwiseLossKind::mse: v = 2.0f * d; break;
      case PointwiseLossKind::huber:
        v = d <= -l.delta ? -l.delta : (d >= l.delta ? l.delta : d);
        break;
      case PointwiseLossKind::bce_logits: {  // lw sigmoid(x) - pw t
        const float pw = pos_weight_at(l, offset + i);
        const float lw = 1.0f + (pw - 1.0f) * t[i];
        v = lw / (1.0f + std::exp(-x[i])) - pw * t[i];
        break;
      }
    }
    if (w) v *= w[i];
    dx[i] = (g ? g[i] : 1.0f) * scale * v;
  }
}

}  // namespace ref
}  // namespace fastnn
