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
// running sums), and the backward takes blocks of up to 64 such runs, walking each run. The
// exponentials of logsumexp go through the active ISA's vector exp (kernels().f32_vmath, one
// contiguous row or run at a time). Either way each output's order of operations is fixed: the
// same bits at any thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastnn/kernel_table.h"
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
inline float lse_shift(float m) { return std::isinf(m) ? 0.0f : m; }

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

// y = exp(x) over n contiguous values (y may alias x), the active ISA's vector exp.
inline void exp_run(const float* x, float* y, int64_t n) {
  kernels().f32_vmath(static_cast<int>(VMath::exp), x, y, n);
}

// A backward block: outputs out0 .. out0 + len - 1; value k of output p at
// base + k * sk + p * sp. Either the positions are adjacent (sp == 1, sk == inner: a block of
// inner positions) or the values are (sk == 1, sp == r: a block of contiguous runs).
struct Block {
  int64_t out0, base, len, sk, sp;
};

// f(p, i) for every value i of every output p of the block, the adjacent index innermost.
template <class F>
inline void walk(const Block& b, int64_t r, F f) {
  if (b.sp == 1) {
    for (int64_t k = 0; k < r; ++k)
      for (int64_t p = 0; p < b.len; ++p) f(p, b.base + k * b.sk + p);
  } else {
    for (int64_t p = 0; p < b.len; ++p)
      for (int64_t k = 0; k < r; ++k) f(p, b.base + p * b.sp + k);
  }
}

// exp over every value of a block of v, in place, one contiguous row or run at a time.
inline void exp_block(const Block& b, int64_t r, float* v) {
  if (b.sp == 1)
    for (int64_t k = 0; k < r; ++k) exp_run(v + b.base + k * b.sk, v + b.base + k * b.sk, b.len);
  else
    for (int64_t p = 0; p < b.len; ++p) exp_run(v + b.base + p * b.sp, v + b.base + p * b.sp, r);
}

// body(block) over the whole (outer, r, inner) array, in parallel: blocks of up to kBlock inner
// positions, or with inner == 1 of up to kBlock contiguous runs.
template <class F>
void for_backward_blocks(int64_t outer, int64_t r, int64_t inner, const F& body) {
  if (inner > 1) {
    for_blocks(outer, r, inner, [&](int64_t o, int64_t p0, int64_t len) {
      body(Block{o * inner + p0, o * r * inner + p0, len, inner, 1});
    });
    return;
  }
  const int64_t tasks = (outer + kBlock - 1) / kBlock;
  const int nt = threads_for(std::min(tasks, outer * std::max<int64_t>(r, 1) / 16384 + 1));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o0 = t * kBlock;
    body(Block{o0, o0 * r, std::min(kBlock, outer - o0), 1, r});
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
    double s[kBlock];
    float c[kBlock], e[kBlock];
    for (int64_t p = 0; p < len; ++p) s[p] = 0.0, c[p] = lse_shift(m[p]);
    for (int64_t k = 0; k < r; ++k) {
      for (int64_t p = 0; p < len; ++p) e[p] = xo[k * inner + p] - c[p];
      exp_run(e, e, len);
      for (int64_t p = 0; p < len; ++p) s[p] += e[p];
    }
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
  if (op == kProd) {  // four running products, like the sums
    double a0 = 1.0, a1 = 1.0, a2 = 1.0, a3 = 1.0;
    int64_t k = 0;
    for (; k + 4 <= r; k += 4) a0 *= x[k], a1 *= x[k + 1], a2 *= x[k + 2], a3 *= x[k + 3];
    for (; k < r; ++k) a0 *= x[k];
    return static_cast<float>((a0 * a1) * (a2 * a3));
  }
  if (op == kLogSumExp) {  // kBlock values at a time through the vector exp
    const float c = lse_shift(max_run<false>(x, r));
    float e[kBlock];
    double s = 0.0;
    for (int64_t k0 = 0; k0 < r; k0 += kBlock) {
      const int64_t n = std::min(kBlock, r - k0);
      for (int64_t i = 0; i < n; ++i) e[i] = x[k0 + i] - c;
      exp_run(e, e, n);
      s += sum_run(e, n, widen);
    }
    return static_cast<float>(std::log(s) + c);
  }
  float y;
  forward_block(op, x, r, 1, 1, &y);
  return y;
}

// prod's gradient for a block: dy times the product of the other values of each output.
void prod_backward_block(const Block& b, const float* dy, const float* x, int64_t r, float* dx) {
  double nz[kBlock];  // product of the nonzero values
  int64_t zeros[kBlock] = {};
  for (int64_t p = 0; p < b.len; ++p) nz[p] = 1.0;
  walk(b, r, [&](int64_t p, int64_t i) {  // (branch-free, so the loops vectorise)
    const bool zero = x[i] == 0.0f;
    zeros[p] += zero;
    nz[p] *= zero ? 1.0 : static_cast<double>(x[i]);
  });
  walk(b, r, [&](int64_t p, int64_t i) {
    const bool zero = x[i] == 0.0f;
    const double others = zeros[p] == 0 ? nz[p] / x[i] : zeros[p] == 1 && zero ? nz[p] : 0.0;
    dx[i] = static_cast<float>(dy[b.out0 + p] * others);
  });
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
  for_backward_blocks(outer, r, inner, [&](const Block& b) {
    const float *dyo = dy + b.out0, *yo = y + b.out0;
    float g[kBlock];
    switch (op) {
      case kMax:
      case kMin: {  // dy split evenly over the ties at the maximum / minimum
        int64_t ties[kBlock] = {};
        walk(b, r, [&](int64_t p, int64_t i) { ties[p] += x[i] == yo[p]; });
        for (int64_t p = 0; p < b.len; ++p)
          g[p] = ties[p] ? dyo[p] / static_cast<float>(ties[p]) : 0.0f;
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] = x[i] == yo[p] ? g[p] : 0.0f; });
        break;
      }
      case kProd:
        prod_backward_block(b, dy, x, r, dx);
        break;
      case kSumSq:
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] = 2.0f * x[i] * dyo[p]; });
        break;
      case kL1:
        walk(b, r, [&](int64_t p, int64_t i) {  // sign(x) dy; sign(0) = sign(NaN) = 0
          dx[i] = static_cast<float>((x[i] > 0.0f) - (x[i] < 0.0f)) * dyo[p];
        });
        break;
      case kL2:  // 0 where the norm is 0
        for (int64_t p = 0; p < b.len; ++p) g[p] = yo[p] == 0.0f ? 0.0f : dyo[p] / yo[p];
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] = x[i] * g[p]; });
        break;
      case kLogSumExp:  // dy * exp(x - y)
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] = x[i] - yo[p]; });
        exp_block(b, r, dx);
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] *= dyo[p]; });
        break;
      default:  // sum, mean
        for (int64_t p = 0; p < b.len; ++p)
          g[p] = op == kMean ? static_cast<float>(dyo[p] / static_cast<double>(r)) : dyo[p];
        walk(b, r, [&](int64_t p, int64_t i) { dx[i] = g[p]; });
    }
  });
}

}  // namespace fastnn
