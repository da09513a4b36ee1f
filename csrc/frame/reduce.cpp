// Reductions over the middle axis of x viewed as (outer, r, inner). Op codes:
//   0 sum, 1 mean, 2 max (amax), 3 min (amin), 4 prod, 5 sum of squares, 6 L1 norm (sum |x|),
//   7 L2 norm (sqrt of the sum of squares), 8 logsumexp.
// Sums, products and the logsumexp's sum of exponentials accumulate in double. max / min
// propagate NaN (as torch.amax / amin); an empty max / min is refused. logsumexp subtracts the
// maximum first; an infinite maximum is replaced by 0 there (torch.logsumexp's rule: all -inf
// gives -inf, a +inf gives +inf).
// Backward: sum spreads dy, mean dy / r, max / min split dy evenly over the positions equal to the
// result (torch.amax's gradient for ties), prod gives dy times the product of the other values
// (exact with zeros: one zero gets the product of the rest, the others 0; two zeros: all 0), sum
// of squares 2 x dy, L1 sign(x) dy, L2 x / y dy (0 where y == 0, as torch.norm), logsumexp
// exp(x - y) dy.
// Work: OpenMP over (outer index, block of up to 64 inner positions); a block keeps one running
// value per position and walks the reduced axis once (contiguous rows of the block, which the
// compiler vectorises). With inner == 1 each output is one contiguous run (the sums with four
// running sums). Either way each output's order of operations is fixed: the same bits at any
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

enum Op { kSum, kMean, kMax, kMin, kProd, kSumSq, kL1, kL2, kLogSumExp, kOps };

constexpr int64_t kBlock = 64;  // inner positions per task
constexpr float kInf = std::numeric_limits<float>::infinity();

int threads_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
}

// max / min that keep a NaN once seen (v != v: v is NaN)
constexpr auto max_nan = [](float m, float v) { return (v > m || v != v) ? v : m; };
constexpr auto min_nan = [](float m, float v) { return (v < m || v != v) ? v : m; };

// Ops that are a sum of f(x): sum, mean, sum of squares, L1, L2.
inline bool is_sum(int op) {
  return op == kSum || op == kMean || op == kSumSq || op == kL1 || op == kL2;
}

// (function objects, so the loops that take them inline them)
constexpr auto widen = [](float v) { return static_cast<double>(v); };
constexpr auto square = [](float v) { return static_cast<double>(v) * v; };
constexpr auto absolute = [](float v) { return std::fabs(static_cast<double>(v)); };

// the output of a sum-type op from its sum s over r values
inline float finish_sum(int op, double s, int64_t r) {
  return static_cast<float>(op == kMean ? s / static_cast<double>(r)
                            : op == kL2 ? std::sqrt(s)
                                        : s);
}

template <class F>
double sum_run(const float* x, int64_t r, F f) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t k = 0;
  for (; k + 4 <= r; k += 4) {
    a0 += f(x[k]);
    a1 += f(x[k + 1]);
    a2 += f(x[k + 2]);
    a3 += f(x[k + 3]);
  }
  for (; k < r; ++k) a0 += f(x[k]);
  return (a0 + a1) + (a2 + a3);
}

double sum_run_op(int op, const float* x, int64_t r) {
  if (op == kSumSq || op == kL2) return sum_run(x, r, square);
  if (op == kL1) return sum_run(x, r, absolute);
  return sum_run(x, r, widen);
}

// (max is exact: eight independent lanes give the same value as one, and vectorise; min is the
// max of -x)
template <bool kMinimum>
float max_run(const float* x, int64_t r) {
  float m[8];
  int32_t nan[8] = {};
  for (float& v : m) v = -kInf;
  int64_t k = 0;
  for (; k + 8 <= r; k += 8)
    for (int l = 0; l < 8; ++l) {
      const float v = kMinimum ? -x[k + l] : x[k + l];
      m[l] = m[l] < v ? v : m[l];
      nan[l] |= v != v;
    }
  float out = -kInf;
  for (; k < r; ++k) out = max_nan(out, kMinimum ? -x[k] : x[k]);
  for (int l = 0; l < 8; ++l)
    out = max_nan(out, nan[l] ? std::numeric_limits<float>::quiet_NaN() : m[l]);
  return kMinimum ? -out : out;
}

// the shift logsumexp subtracts: the maximum, or 0 where it is infinite
inline double lse_shift(float m) { return std::isinf(m) ? 0.0 : static_cast<double>(m); }

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

// One output per position of a block: len positions at stride 1, r values at stride inner.
void forward_block(int op, const float* xo, int64_t r, int64_t inner, int64_t len, float* yo) {
  if (op == kMax || op == kMin || op == kLogSumExp) {
    float m[kBlock];
    for (int64_t p = 0; p < len; ++p) m[p] = op == kMin ? kInf : -kInf;
    auto walk = [&](auto pick) {
      for (int64_t k = 0; k < r; ++k)
        for (int64_t p = 0; p < len; ++p) m[p] = pick(m[p], xo[k * inner + p]);
    };
    if (op == kMin)
      walk(min_nan);
    else
      walk(max_nan);
    if (op != kLogSumExp) {
      for (int64_t p = 0; p < len; ++p) yo[p] = m[p];
      return;
    }
    double s[kBlock], c[kBlock];
    for (int64_t p = 0; p < len; ++p) s[p] = 0.0, c[p] = lse_shift(m[p]);
    for (int64_t k = 0; k < r; ++k)
      for (int64_t p = 0; p < len; ++p) s[p] += std::exp(xo[k * inner + p] - c[p]);
    for (int64_t p = 0; p < len; ++p) yo[p] = static_cast<float>(std::log(s[p]) + c[p]);
    return;
  }
  double s[kBlock];
  const double init = op == kProd ? 1.0 : 0.0;
  for (int64_t p = 0; p < len; ++p) s[p] = init;
  if (op == kProd) {
    for (int64_t k = 0; k < r; ++k)
      for (int64_t p = 0; p < len; ++p) s[p] *= xo[k * inner + p];
    for (int64_t p = 0; p < len; ++p) yo[p] = static_cast<float>(s[p]);
    return;
  }
  auto walk = [&](auto f) {
    for (int64_t k = 0; k < r; ++k)
      for (int64_t p = 0; p < len; ++p) s[p] += f(xo[k * inner + p]);
  };
  if (op == kSumSq || op == kL2)
    walk(square);
  else if (op == kL1)
    walk(absolute);
  else
    walk(widen);
  for (int64_t p = 0; p < len; ++p) yo[p] = finish_sum(op, s[p], r);
}

// One output from a contiguous run of r values.
float forward_run(int op, const float* x, int64_t r) {
  if (is_sum(op)) return finish_sum(op, sum_run_op(op, x, r), r);
  if (op == kMax) return max_run<false>(x, r);
  if (op == kMin) return max_run<true>(x, r);
  float y;
  forward_block(op, x, r, 1, 1, &y);
  return y;
}

// prod's gradient for a block: dy times the product of the other values of each output.
void prod_backward_block(const float* dyo, const float* x, int64_t base, int64_t r, int64_t inner,
                         int64_t len, float* dx) {
  double nz[kBlock];  // product of the nonzero values
  int64_t zeros[kBlock] = {};
  for (int64_t p = 0; p < len; ++p) nz[p] = 1.0;
  for (int64_t k = 0; k < r; ++k)
    for (int64_t p = 0; p < len; ++p) {
      const float v = x[base + k * inner + p];
      if (v == 0.0f)
        ++zeros[p];
      else
        nz[p] *= v;
    }
  for (int64_t k = 0; k < r; ++k)
    for (int64_t p = 0; p < len; ++p) {
      const float v = x[base + k * inner + p];
      double others = 0.0;
      if (zeros[p] == 0)
        others = nz[p] / v;
      else if (zeros[p] == 1 && v == 0.0f)
        others = nz[p];
      dx[base + k * inner + p] = static_cast<float>(dyo[p] * others);
    }
}

}  // namespace

void reduce_check(int64_t outer, int64_t r, int64_t inner, int op) {
  if (outer < 0 || r < 0 || inner < 0)
    throw std::invalid_argument("reduce: expected outer, reduced, inner sizes >= 0, got (" +
                                std::to_string(outer) + ", " + std::to_string(r) + ", " +
                                std::to_string(inner) + ")");
  if (op < 0 || op >= kOps)
    throw std::invalid_argument(
        "op: expected 0 (sum), 1 (mean), 2 (max), 3 (min), 4 (prod), 5 (sum of squares), 6 (L1), "
        "7 (L2) or 8 (logsumexp), got " + std::to_string(op));
  if ((op == kMax || op == kMin) && r == 0 && outer * inner > 0)
    throw std::invalid_argument(std::string("input: ") + (op == kMax ? "max" : "min") +
                                " over an empty dimension (the reduced size is 0)");
}

void reduce_forward(const float* x, int64_t outer, int64_t r, int64_t inner, int op, float* y) {
  reduce_check(outer, r, inner, op);
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
#pragma omp parallel for schedule(static) num_threads(threads_for(outer * r / 16384 + 1))
    for (int64_t o = 0; o < outer; ++o) y[o] = forward_run(op, x + o * r, r);
    return;
  }
  for_blocks(outer, r, inner, [&](int64_t o, int64_t p0, int64_t len) {
    forward_block(op, x + o * r * inner + p0, r, inner, len, y + o * inner + p0);
  });
}

void reduce_backward(const float* dy, const float* x, const float* y, int64_t outer, int64_t r,
                     int64_t inner, int op, float* dx) {
  reduce_check(outer, r, inner, op);
  if (outer == 0 || inner == 0) return;
  for_blocks(outer, r, inner, [&](int64_t o, int64_t p0, int64_t len) {
    const int64_t base = o * r * inner + p0;
    const float *dyo = dy + o * inner + p0, *yo = y + o * inner + p0;
    const float* xb = x + base;
    float* dxb = dx + base;
    float g[kBlock];
    switch (op) {
      case kMax:
      case kMin: {  // dy split evenly over the ties at the maximum / minimum
        int64_t ties[kBlock] = {};
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p) ties[p] += xb[k * inner + p] == yo[p];
        for (int64_t p = 0; p < len; ++p)
          g[p] = ties[p] ? dyo[p] / static_cast<float>(ties[p]) : 0.0f;
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p)
            dxb[k * inner + p] = xb[k * inner + p] == yo[p] ? g[p] : 0.0f;
        break;
      }
      case kProd:
        prod_backward_block(dyo, x, base, r, inner, len, dx);
        break;
      case kSumSq:
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p) dxb[k * inner + p] = 2.0f * xb[k * inner + p] * dyo[p];
        break;
      case kL1:
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p) {
            const float v = xb[k * inner + p];
            dxb[k * inner + p] = v > 0.0f ? dyo[p] : v < 0.0f ? -dyo[p] : 0.0f * dyo[p];
          }
        break;
      case kL2:
        for (int64_t p = 0; p < len; ++p) g[p] = yo[p] == 0.0f ? 0.0f : dyo[p] / yo[p];
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p) dxb[k * inner + p] = xb[k * inner + p] * g[p];
        break;
      case kLogSumExp:
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p)
            dxb[k * inner + p] = static_cast<float>(
                dyo[p] * std::exp(static_cast<double>(xb[k * inner + p]) - yo[p]));
        break;
      default:  // sum, mean
        for (int64_t p = 0; p < len; ++p)
          g[p] = op == kMean ? static_cast<float>(dyo[p] / static_cast<double>(r)) : dyo[p];
        for (int64_t k = 0; k < r; ++k)
          for (int64_t p = 0; p < len; ++p) dxb[k * inner + p] = g[p];
    }
  });
}

}  // namespace fastnn
