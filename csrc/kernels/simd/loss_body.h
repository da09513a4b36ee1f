// Cross-entropy rows (fused, numerically stable log-softmax) written once for every SIMD ISA;
// contracts in kernel_table.h (f32_xent_forward_fn, f32_xent_backward_fn), scalar reference in
// ref/loss.cpp.
#pragma once
#include <math.h>
#include <cstdint>
#include <limits>

#include "elementwise_body.h"

namespace fastnn {
namespace simd {

template <class S>
void xent_forward(const float* x, int64_t rows, int64_t cols, const int64_t* target, const float* w,
                  float eps, float* lse, float* loss) {
  using V = typename S::F;
  using M = typename S::M;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float mx = row_max<S>(xr, cols);
    const float logs = logf(row_sum_exp<S>(xr, cols, mx, nullptr));
    const float l = mx + logs;
    // lse - x_c as (mx - x_c) + log(s): mx - x_c is exact when they are close, so the loss keeps
    // its relative accuracy even when the logits are large (lse - x_c would cancel).
    const int64_t t = target[r];
    const float wt = w ? w[t] : 1.0f;
    float li = (1.0f - eps) * wt * ((mx - xr[t]) + logs);
    if (eps != 0.0f) {
      // sum_c w_c (lse - x_c): every term >= 0, so the float sum does not cancel.
      const V vm = S::set1(mx), vlogs = S::set1(logs);
      V acc = S::zero();
      for_blocks<S>(cols, [&](int64_t i, M m) {
        // masked lanes: d = log(s), dropped by the zero-filled weight or the tail predicate
        const V d = S::add(S::sub(vm, S::load(m, xr + i)), vlogs);
        acc = w ? S::fmadd(S::load(m, w + i), d, acc)
                : S::add(acc, S::select(m, S::zero(), d));
      });
      li += eps / static_cast<float>(cols) * S::hsum(acc);
    }
    lse[r] = l;
    loss[r] = li;
  }
}

template <class S>
void xent_backward(const float* x, const float* lse, int64_t rows, int64_t cols,
                   const int64_t* target, const float* w, float w_sum, float eps, float scale,
                   const float* row_scale, float* dx) {
  using V = typename S::F;
  using M = typename S::M;
  const float inv_c = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* dr = dx + r * cols;
    const int64_t t = target[r];
    const float s = row_scale ? scale * row_scale[r] : scale;
    const float wt = w ? w[t] : 1.0f;
    const V a = S::set1(s * ((1.0f - eps) * wt + eps * w_sum * inv_c));
    const V b = S::set1(s * eps * inv_c);
    const V vl = S::set1(lse[r]);
    for_blocks<S>(cols, [&](int64_t i, M m) {
      const V p = vexp<S>(S::sub(S::load(m, xr + i), vl));
      const V wc = w ? S::load(m, w + i) : S::set1(1.0f);
      S::store(m, dr + i, S::fnmadd(b, wc, S::mul(a, p)));
    });
    dr[t] -= s * (1.0f - eps) * wt;
  }
}

}  // namespace simd
}  // namespace fastnn
