// Reductions over the middle axis of x viewed as (outer, r, inner): sum, mean, max (amax).
// sum / mean accumulate in double. max propagates NaN (as torch.amax); an empty max is refused.
// Backward: sum spreads dy, mean dy / r, max splits dy evenly over the positions equal to the
// maximum (torch.amax's gradient for ties).
// Work: OpenMP over (outer index, block of up to 64 inner positions); a block keeps one running
// value per position and walks the reduced axis once (contiguous rows of the block, which the
// compiler vectorises). With inner == 1 each output is one contiguous run, summed with four
// running sums. Either way each output's order of additions is fixed: the same bits at any
// thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

constexpr int64_t kBlock = 64;  // inner positions per task

int threads_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
}

// max that keeps a NaN once seen (v != v: v is NaN)
inline float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

double sum_run(const float* x, int64_t r) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t k = 0;
  for (; k + 4 <= r; k += 4) {
    a0 += x[k];
    a1 += x[k + 1];
    a2 += x[k + 2];
    a3 += x[k + 3];
  }
  for (; k < r; ++k) a0 += x[k];
  return (a0 + a1) + (a2 + a3);
}

// (max is exact: eight independent lanes give the same value as one, and vectorise)
float max_run(const float* x, int64_t r) {
  float m[8];
  int32_t nan[8] = {};
  for (float& v : m) v = -std::numeric_limits<float>::infinity();
  int64_t k = 0;
  for (; k + 8 <= r; k += 8)
    for (int l = 0; l < 8; ++l) {
      const float v = x[k + l];
      m[l] = m[l] < v ? v : m[l];
      nan[l] |= v != v;
    }
  float out = -std::numeric_limits<float>::infinity();
  for (; k < r; ++k) out = max_nan(out, x[k]);
  for (int l = 0; l < 8; ++l)
    out = max_nan(out, nan[l] ? std::numeric_limits<float>::quiet_NaN() : m[l]);
  return out;
}

// body(o, p0, len) for every (outer index, block of inner positions), in parallel.
template <class F>
void for_blocks(int64_t outer, int64_t r, int64_t inner, const F& body) {
  const int64_t blocks = (inner + kBlock - 1) / kBlock, tasks = outer * blocks;
  const int nt =
      threads_for(std::min(tasks, tasks * std::max<int64_t>(r, 1) * kBlock / 16384 + 1));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / blocks, p0 = (t % blocks) * kBlock;
    body(o, p0, std::min(kBlock, inner - p0));
  }
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
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
#pragma omp parallel for schedule(static) num_threads(threads_for(outer * r / 16384 + 1))
    for (int64_t o = 0; o < outer; ++o)
      y[o] = op == 2   ? max_run(x + o * r, r)
             : op == 1 ? static_cast<float>(sum_run(x + o * r, r) / static_cast<double>(r))
                       : static_cast<float>(sum_run(x + o * r, r));
    return;
  }
  for_blocks(outer, r, inner, [&](int64_t o, int64_t p0, int64_t len) {
    const float* xo = x + o * r * inner + p0;
    float* yo = y + o * inner + p0;
    if (op == 2) {
      float m[kBlock];
      for (int64_t p = 0; p < len; ++p) m[p] = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p) m[p] = max_nan(m[p], xo[k * inner + p]);
      for (int64_t p = 0; p < len; ++p) yo[p] = m[p];
    } else {
      double s[kBlock];
      for (int64_t p = 0; p < len; ++p) s[p] = 0.0;
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p) s[p] += xo[k * inner + p];
      for (int64_t p = 0; p < len; ++p)
        yo[p] = static_cast<float>(op == 1 ? s[p] / static_cast<double>(r) : s[p]);
    }
  });
}

void reduce_backward(const float* dy, const float* x, const float* y, int64_t outer, int64_t r,
                     int64_t inner, int op, float* dx) {
  reduce_check(outer, r, inner, op);
  if (outer == 0 || inner == 0) return;
  for_blocks(outer, r, inner, [&](int64_t o, int64_t p0, int64_t len) {
    const int64_t base = o * r * inner + p0;
    const float *dyo = dy + o * inner + p0, *yo = y + o * inner + p0;
    float g[kBlock];
    if (op == 2) {  // dy split evenly over the ties at the maximum
      int64_t ties[kBlock] = {};
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p) ties[p] += x[base + k * inner + p] == yo[p];
      for (int64_t p = 0; p < len; ++p)
        g[p] = ties[p] ? dyo[p] / static_cast<float>(ties[p]) : 0.0f;
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p)
          dx[base + k * inner + p] = x[base + k * inner + p] == yo[p] ? g[p] : 0.0f;
    } else {
      for (int64_t p = 0; p < len; ++p)
        g[p] = op == 1 ? static_cast<float>(dyo[p] / static_cast<double>(r)) : dyo[p];
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p) dx[base + k * inner + p] = g[p];
    }
  });
}

}  // namespace fastnn
