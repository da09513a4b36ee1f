// Reductions over the middle axis of x viewed as (outer, r, inner): sum, mean, max (amax).
// sum / mean accumulate in double. max propagates NaN (as torch.amax); an empty max is refused.
// Backward: sum spreads dy, mean dy / r, max splits dy evenly over the positions equal to the
// maximum (torch.amax's gradient for ties). OpenMP over the outer index (or inner blocks).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

int threads_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
}

}  // namespace

void reduce_check(int64_t outer, int64_t r, int64_t inner, int op) {
  if (outer < 0 || r < 0 || inner < 0)
    throw std::invalid_argument("reduce: expected outer, reduced, inner sizes >= 0, got (" +
                                std::to_string(outer) + ", " + std::to_string(r) + ", " +
                                std::to_string(inner) + ")");
  if (op < 0 || op > 2)
    throw std::invalid_argument("op: expected 0 (sum), 1 (mean) or 2 (max), got " +
                                std::to_string(op));
  if (op == 2 && r == 0 && outer * inner > 0)
    throw std::invalid_argument("input: max over an empty dimension (the reduced size is 0)");
}

void reduce_forward(const float* x, int64_t outer, int64_t r, int64_t inner, int op, float* y) {
  reduce_check(outer, r, inner, op);
  const int64_t tasks = outer * inner;
#pragma omp parallel for schedule(static) num_threads(threads_for(tasks * r / 16384 + 1))
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / inner, i = t % inner;
    const float* xp = x + o * r * inner + i;
    if (op == 2) {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < r; ++k) {
        const float v = xp[k * inner];
        if (std::isnan(v)) {
          m = v;
          break;
        }
        m = std::max(m, v);
      }
      y[t] = m;
    } else {
      double s = 0.0;
      for (int64_t k = 0; k < r; ++k) s += xp[k * inner];
      y[t] = static_cast<float>(op == 1 ? s / static_cast<double>(r) : s);
    }
  }
}

void reduce_backward(const float* dy, const float* x, const float* y, int64_t outer, int64_t r,
                     int64_t inner, int op, float* dx) {
  reduce_check(outer, r, inner, op);
  const int64_t tasks = outer * inner;
#pragma omp parallel for schedule(static) num_threads(threads_for(tasks * r / 16384 + 1))
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / inner, i = t % inner;
    const int64_t base = o * r * inner + i;
    if (op == 2) {
      int64_t ties = 0;
      for (int64_t k = 0; k < r; ++k) ties += x[base + k * inner] == y[t];
      const float g = ties ? dy[t] / static_cast<float>(ties) : 0.0f;
      for (int64_t k = 0; k < r; ++k) dx[base + k * inner] = x[base + k * inner] == y[t] ? g : 0.0f;
    } else {
      const float g = op == 1 ? static_cast<float>(dy[t] / static_cast<double>(r)) : dy[t];
      for (int64_t k = 0; k < r; ++k) dx[base + k * inner] = g;
    }
  }
}

}  // namespace fastnn
