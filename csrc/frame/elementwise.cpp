// Drivers for the elementwise layers: activations, softmax, dropout, column sums. They split the
// work into fixed blocks across threads and call the leaves of the active kernel table; argument
// checks on shapes and dtypes happen in the bindings (which see the arrays), value checks here.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "act_stats.h"
#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"
#include "parallel_blocks.h"

namespace fastnn {

namespace {

// Elements per block: enough work to amortise a thread hand-off, a multiple of every SIMD width.
constexpr int64_t kCheapBlock = 32768;   // loads, compares, a multiply
constexpr int64_t kMathBlock = 8192;     // exp / erf per element

Epilogue epilogue_of(Unary op, float param) {
  Epilogue ep;
  ep.act = static_cast<Act>(static_cast<int>(op));
  ep.param = param;
  return ep;
}

bool is_epilogue_act(Unary op) { return static_cast<int>(op) <= static_cast<int>(Act::tanh); }

// Codes >= 8: the f32_act_ext leaves (params.h ActParams).
bool is_ext_act(Unary op) { return static_cast<int>(op) >= static_cast<int>(Unary::hardtanh); }

int64_t block_for(Unary op) {
  switch (op) {
    case Unary::relu:
    case Unary::leaky_relu:
    case Unary::hardtanh:
    case Unary::hardsigmoid:
    case Unary::hardswish:
    case Unary::softsign: return kCheapBlock;
    default: return kMathBlock;
  }
}

void check_finite(float v, const char* layer, const char* name) {
  if (!std::isfinite(v))
    throw std::invalid_argument(std::string(layer) + ": " + name + " must be finite, got " +
                                std::to_string(v));
}

void check_not_nan(float v, const char* layer, const char* name) {
  if (std::isnan(v))
    throw std::invalid_argument(std::string(layer) + ": " + name + " must not be NaN");
}

// The leaves' constants of an activation with code >= 8, checked.
ActParams ext_params(Unary op, UnaryParam param) {
  ActParams p;
  switch (op) {
    case Unary::hardtanh:  // an infinite bound: a one-sided clamp
      check_not_nan(param.p1, "hardtanh", "min_val");
      check_not_nan(param.p2, "hardtanh", "max_val");
      if (!(param.p1 <= param.p2))
        throw std::invalid_argument("hardtanh: min_val must be <= max_val, got min_val " +
                                    std::to_string(param.p1) + " and max_val " +
                                    std::to_string(param.p2));
      p.lo = param.p1;
      p.hi = param.p2;
      break;
    case Unary::hardsigmoid: {
      check_finite(param.p1, "hardsigmoid", "alpha");
      check_finite(param.p2, "hardsigmoid", "beta");
      p.a = param.p1;
      p.b = param.p2;
      // The slope region 0 < a x + b < 1, in double: a = float(1/6), b = 1/2 give exactly (-3, 3).
      const double a = p.a, b = p.b;
      if (a != 0.0) {
        const double e0 = -b / a, e1 = (1.0 - b) / a;
        p.lo = static_cast<float>(std::min(e0, e1));
        p.hi = static_cast<float>(std::max(e0, e1));
      }  // a == 0: lo == hi == 0, an empty interval: no gradient anywhere
      break;
    }
    case Unary::softplus:
      check_finite(param.p1, "softplus", "beta");
      check_finite(param.p2, "softplus", "threshold");
      if (param.p1 == 0.0f) throw std::invalid_argument("softplus: beta must be nonzero, got 0");
      p.a = param.p1;
      p.b = param.p2;
      break;
    default: break;  // hardswish, softsign: no constants
  }
  return p;
}

}  // namespace

namespace {
// A Unary made from an int outside the list (fastnn._C.Unary(99)) is refused here, the one check.
void check_unary(Unary op) {
  if (!enum_valid<Unary>(static_cast<int>(op)))
    throw std::invalid_argument("code: expected a fastnn._C.Unary activation, got the value " +
                                std::to_string(static_cast<int>(op)));
}

// Indexed by VMath code.
const char* const kVMathNames[] = {"exp",      "expm1_nonpos", "tanh",      "sigmoid",
                                   "phi_tail", "phi_tail_q",   "phi_tail_g"};
constexpr int kNumVMath = static_cast<int>(sizeof(kVMathNames) / sizeof(kVMathNames[0]));
}  // namespace

VMath vmath_from_name(const std::string& name) {
  for (int i = 0; i < kNumVMath; ++i)
    if (name == kVMathNames[i]) return static_cast<VMath>(i);
  throw std::invalid_argument("function: unknown vector-math function '" + name + "'; expected one of " +
                              vmath_names());
}

std::string vmath_names() {
  std::string s;
  for (const char* n : kVMathNames) s += (s.empty() ? "'" : ", '") + std::string(n) + "'";
  return s;
}

void vmath(VMath fn, const float* x, float* y, int64_t n) {
  const int code = static_cast<int>(fn);
  if (code < 0 || code >= kNumVMath)
    throw std::invalid_argument("vmath: unknown function code " + std::to_string(code));
  if (n < 0) throw std::invalid_argument("vmath: n must be >= 0, got " + std::to_string(n));
  const f32_vmath_fn f = kernels().f32_vmath;
  parallel_blocks(n, kMathBlock, [&](int64_t b, int64_t e) { f(code, x + b, y + b, e - b); });
}

void add_arrays(const float* a, const float* b, float* y, int64_t n, bool relu) {
  if (n < 0) throw std::invalid_argument("add: n must be >= 0, got " + std::to_string(n));
  // Memory-bound: the frame's plain loop (vectorised by the compiler) reaches the bandwidth; the
  // threads add bandwidth where one core cannot use all of it.
  parallel_blocks(n, kCheapBlock, [&](int64_t lo, int64_t hi) {
    if (relu) {
      for (int64_t i = lo; i < hi; ++i) {
        const float v = a[i] + b[i];
        y[i] = v > 0.0f ? v : (v == v ? 0.0f : v);  // as the ReLU layer: NaN propagates, -0 -> +0
      }
    } else {
      for (int64_t i = lo; i < hi; ++i) y[i] = a[i] + b[i];
    }
  });
}

void unary_forward(Unary op, UnaryParam param, const float* x, float* y, int64_t n,
                   const ActStats* stats) {
  check_unary(op);
  const KernelTable& t = kernels();
  const int64_t block = block_for(op);
  if (is_ext_act(op)) {
    const ActParams p = ext_params(op, param);
    const int code = static_cast<int>(op);
    ActStatsAcc acc(stats, n, block);
    parallel_blocks(n, block, [&](int64_t b, int64_t e) {
      t.f32_act_ext(code, x + b, y + b, e - b, p);
      acc.block(y, b, e);
    });
    acc.finish();
    return;
  }
  ActStatsAcc acc(stats, n, block);
  if (is_epilogue_act(op)) {
    const Epilogue ep = epilogue_of(op, param.p1);
    parallel_blocks(n, block, [&](int64_t b, int64_t e) {
      t.f32_act(x + b, y + b, e - b, ep);
      acc.block(y, b, e);
    });
  } else {
    const f32_unary_fn f = op == Unary::selu ? t.f32_selu : t.f32_gelu;
    parallel_blocks(n, block, [&](int64_t b, int64_t e) {
      f(x + b, y + b, e - b);
      acc.block(y, b, e);
    });
  }
  acc.finish();
}

bool unary_backward_needs_input(Unary op, UnaryParam param) {
  check_unary(op);
  if (is_ext_act(op)) return true;
  switch (op) {
    case Unary::gelu: return true;
    case Unary::leaky_relu:
    case Unary::elu: return param.p1 < 0.0f || std::isnan(param.p1);
    default: return false;
  }
}

void unary_backward(Unary op, UnaryParam param, const float* x, const float* y, const float* dy,
                    float* dx, int64_t n, const ActStats* stats) {
  if (unary_backward_needs_input(op, param) && x == nullptr && n > 0)
    throw std::invalid_argument("unary_backward: this activation needs the forward's input");
  const KernelTable& t = kernels();
  if (is_ext_act(op)) {
    const ActParams p = ext_params(op, param);
    const int code = static_cast<int>(op);
    ActStatsAcc acc(stats, n, block_for(op));
    parallel_blocks(n, block_for(op), [&](int64_t b, int64_t e) {
      t.f32_act_ext_backward(code, x + b, dy + b, dx + b, e - b, p);
      acc.block(dx, b, e);
    });
    acc.finish();
  } else if (is_epilogue_act(op)) {
    const Epilogue ep = epilogue_of(op, param.p1);
    const float* xb = unary_backward_needs_input(op, param) ? x : nullptr;
    ActStatsAcc acc(stats, n, block_for(op));
    parallel_blocks(n, block_for(op), [&](int64_t b, int64_t e) {
      t.f32_act_backward(xb ? xb + b : nullptr, y + b, dy + b, dx + b, e - b, ep);
      acc.block(dx, b, e);
    });
    acc.finish();
  } else if (op == Unary::selu) {
    ActStatsAcc acc(stats, n, kCheapBlock);
    parallel_blocks(n, kCheapBlock, [&](int64_t b, int64_t e) {
      t.f32_selu_backward(y + b, dy + b, dx + b, e - b);
      acc.block(dx, b, e);
    });
    acc.finish();
  } else {
    ActStatsAcc acc(stats, n, kMathBlock);
    parallel_blocks(n, kMathBlock, [&](int64_t b, int64_t e) {
      t.f32_gelu_backward(x + b, dy + b, dx + b, e - b);
      acc.block(dx, b, e);
    });
    acc.finish();
  }
}

// ---- softmax ---------------------------------------------------------------------------------------
// inner == 1: rows are contiguous and go straight to the row leaves. inner > 1 (softmax over the
// channels of NCHW): each task gathers up to kCols columns of one (dim, inner) slab into rows,
// runs the row leaf, and scatters back.
namespace {
constexpr int64_t kCols = 64;

template <class Rows>
void softmax_slabs(int64_t outer, int64_t dim, int64_t inner, int nin, const float* const* in,
                   float* out, const Rows& rows) {
  const int64_t col_blocks = (inner + kCols - 1) / kCols;
  parallel_blocks(outer * col_blocks, 1, [&](int64_t task, int64_t) {
    const int64_t o = task / col_blocks, c0 = (task % col_blocks) * kCols;
    const int64_t nc = std::min(kCols, inner - c0);
    std::vector<float> buf(static_cast<size_t>((nin + 1) * nc * dim));
    for (int k = 0; k < nin; ++k) {
      const float* src = in[k] + o * dim * inner + c0;
      float* dst = buf.data() + k * nc * dim;
      for (int64_t d = 0; d < dim; ++d)
        for (int64_t c = 0; c < nc; ++c) dst[c * dim + d] = src[d * inner + c];
    }
    float* res = buf.data() + nin * nc * dim;
    rows(buf.data(), buf.data() + nc * dim, res, nc);
    float* dst = out + o * dim * inner + c0;
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t c = 0; c < nc; ++c) dst[d * inner + c] = res[c * dim + d];
  });
}

int64_t rows_per_block(int64_t dim) {
  return std::max<int64_t>(1, kMathBlock / std::max<int64_t>(dim, 1));
}
}  // namespace

namespace {
void rows_forward(f32_softmax_rows_fn f, const char* what, const float* x, float* y,
                  int64_t outer, int64_t dim, int64_t inner) {
  if (dim < 1) throw std::invalid_argument(std::string(what) + ": the " + what +
                                           " dimension must be >= 1");
  if (inner == 1) {
    parallel_blocks(outer, rows_per_block(dim), [&](int64_t b, int64_t e) {
      f(x + b * dim, y + b * dim, e - b, dim);
    });
    return;
  }
  const float* in[1] = {x};
  softmax_slabs(outer, dim, inner, 1, in, y,
                [&](const float* xs, const float*, float* ys, int64_t nr) { f(xs, ys, nr, dim); });
}

void rows_backward(f32_softmax_rows_backward_fn f, const char* what, const float* y,
                   const float* dy, float* dx, int64_t outer, int64_t dim, int64_t inner) {
  if (dim < 1) throw std::invalid_argument(std::string(what) + ": the " + what +
                                           " dimension must be >= 1");
  if (inner == 1) {
    parallel_blocks(outer, rows_per_block(dim), [&](int64_t b, int64_t e) {
      f(y + b * dim, dy + b * dim, dx + b * dim, e - b, dim);
    });
    return;
  }
  const float* in[2] = {y, dy};
  softmax_slabs(outer, dim, inner, 2, in, dx,
                [&](const float* ys, const float* gs, float* ds, int64_t nr) {
                  f(ys, gs, ds, nr, dim);
                });
}
}  // namespace

void softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
  rows_forward(kernels().f32_softmax_rows, "softmax", x, y, outer, dim, inner);
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                      int64_t inner) {
  rows_backward(kernels().f32_softmax_rows_backward, "softmax", y, dy, dx, outer, dim, inner);
}

void log_softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
  rows_forward(kernels().f32_log_softmax_rows, "log_softmax", x, y, outer, dim, inner);
}

void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                          int64_t inner) {
  rows_backward(kernels().f32_log_softmax_rows_backward, "log_softmax", y, dy, dx, outer, dim,
                inner);
}

// ---- PReLU ---------------------------------------------------------------------------------------
// Planes of at least kRunMin elements: tasks are the (outer, channel) planes cut into runs of at
// most kCheapBlock elements, one slope each. Shorter planes ((N, C), (N, C, L) with small L): the
// rows leaves on rows of channels * inner elements with the slopes repeated inner times, blocks of
// whole rows. Either way the cut depends on the shape alone, so the slope gradient (float partial
// sums per task, added in double in task order) has the same bits for any thread count.
namespace {
constexpr int64_t kRunMin = 64;

struct PreluRows {
  int64_t rows, cols, rows_per_task;
  std::vector<float> slope;  // per column
  int64_t tasks() const { return rows == 0 ? 0 : (rows + rows_per_task - 1) / rows_per_task; }
};

bool use_rows(int64_t nslope, int64_t channels, int64_t inner) {
  return nslope == channels && channels > 1 && inner < kRunMin;
}

PreluRows prelu_rows_of(const float* slope, int64_t outer, int64_t channels, int64_t inner) {
  PreluRows pr;
  pr.rows = outer;
  pr.cols = channels * inner;
  pr.rows_per_task = std::max<int64_t>(1, kCheapBlock / std::max<int64_t>(1, pr.cols));
  pr.slope.resize(static_cast<size_t>(pr.cols));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < inner; ++i) pr.slope[static_cast<size_t>(c * inner + i)] = slope[c];
  return pr;
}

struct PreluTasks {
  int64_t planes, runs_per_plane, inner, channels, nslope;
  int64_t count() const { return planes * runs_per_plane; }
  // Tasks per parallel block: about kCheapBlock elements.
  int64_t grain() const {
    return std::max<int64_t>(1, kCheapBlock / std::max<int64_t>(1, std::min(inner, kCheapBlock)));
  }
};

PreluTasks prelu_tasks(int64_t nslope, int64_t outer, int64_t channels, int64_t inner) {
  if (nslope != 1 && nslope != channels)
    throw std::invalid_argument("prelu: weight: expected 1 or " + std::to_string(channels) +
                                " (channels) values, got " + std::to_string(nslope));
  if (outer < 0 || channels < 0 || inner < 0)
    throw std::invalid_argument("prelu: negative extent");
  PreluTasks tk;
  tk.planes = outer * channels;
  tk.inner = inner;
  tk.runs_per_plane = inner == 0 ? 0 : (inner + kCheapBlock - 1) / kCheapBlock;
  tk.channels = channels;
  tk.nslope = nslope;
  return tk;
}
}  // namespace

void prelu_forward(const float* x, const float* slope, int64_t nslope, float* y, int64_t outer,
                   int64_t channels, int64_t inner) {
  const PreluTasks tk = prelu_tasks(nslope, outer, channels, inner);
  const KernelTable& t = kernels();
  if (use_rows(nslope, channels, inner)) {
    const PreluRows pr = prelu_rows_of(slope, outer, channels, inner);
    parallel_blocks(pr.rows, pr.rows_per_task, [&](int64_t b, int64_t e) {
      t.f32_prelu_rows(x + b * pr.cols, y + b * pr.cols, e - b, pr.cols, pr.slope.data());
    });
    return;
  }
  parallel_blocks(tk.count(), tk.grain(), [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t plane = task / tk.runs_per_plane, r0 = (task % tk.runs_per_plane) * kCheapBlock;
      const float s = slope[nslope == 1 ? 0 : plane % channels];
      const int64_t off = plane * inner + r0;
      t.f32_prelu_run(x + off, y + off, std::min(kCheapBlock, inner - r0), s);
    }
  });
}

void prelu_backward(const float* x, const float* slope, int64_t nslope, const float* dy, float* dx,
                    float* dslope, int64_t outer, int64_t channels, int64_t inner) {
  const PreluTasks tk = prelu_tasks(nslope, outer, channels, inner);
  const KernelTable& t = kernels();
  if (use_rows(nslope, channels, inner)) {
    const PreluRows pr = prelu_rows_of(slope, outer, channels, inner);
    const size_t cols = static_cast<size_t>(pr.cols);
    std::vector<float> part(static_cast<size_t>(pr.tasks()) * cols, 0.0f);
    // parallel_blocks' blocks of rows_per_task rows are exactly the tasks
    parallel_blocks(pr.rows, pr.rows_per_task, [&](int64_t b, int64_t e) {
      const size_t task = static_cast<size_t>(b / pr.rows_per_task);
      t.f32_prelu_rows_backward(x + b * pr.cols, dy + b * pr.cols, dx + b * pr.cols, e - b,
                                pr.cols, pr.slope.data(), part.data() + task * cols);
    });
    if (!dslope) return;
    std::vector<double> acc(static_cast<size_t>(channels), 0.0);
    for (int64_t task = 0; task < pr.tasks(); ++task)
      for (int64_t j = 0; j < pr.cols; ++j)
        acc[static_cast<size_t>(j / inner)] += part[static_cast<size_t>(task) * cols + j];
    for (int64_t c = 0; c < channels; ++c)
      dslope[c] += static_cast<float>(acc[static_cast<size_t>(c)]);
    return;
  }
  std::vector<float> part(static_cast<size_t>(tk.count()));
  parallel_blocks(tk.count(), tk.grain(), [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t plane = task / tk.runs_per_plane, r0 = (task % tk.runs_per_plane) * kCheapBlock;
      const float s = slope[nslope == 1 ? 0 : plane % channels];
      const int64_t off = plane * inner + r0;
      t.f32_prelu_run_backward(x + off, dy + off, dx + off, std::min(kCheapBlock, inner - r0), s,
                               &part[static_cast<size_t>(task)]);
    }
  });
  if (!dslope) return;
  std::vector<double> acc(static_cast<size_t>(nslope), 0.0);
  for (int64_t task = 0; task < tk.count(); ++task) {
    const int64_t plane = task / tk.runs_per_plane;
    acc[static_cast<size_t>(nslope == 1 ? 0 : plane % channels)] += part[static_cast<size_t>(task)];
  }
  for (int64_t k = 0; k < nslope; ++k) dslope[k] += static_cast<float>(acc[static_cast<size_t>(k)]);
}

// ---- column sums ---------------------------------------------------------------------------------
void colsum_accumulate(const float* x, int64_t rows, int64_t cols, float* ycol) {
  const KernelTable& t = kernels();
  // Threads own disjoint column blocks and sum rows in order: the result does not depend on the
  // thread count.
  const int64_t block = rows * cols < kCheapBlock ? cols : 64;
  parallel_blocks(cols, block, [&](int64_t b, int64_t e) {
    t.f32_colsum_acc(x + b, rows, e - b, cols, ycol + b);
  });
}

// ---- dropout -------------------------------------------------------------------------------------
namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 2^16 divides 2^32, so no block crosses a multiple of 2^32 (the leaf's precondition).
constexpr int64_t kDropoutBlock = 65536;

void run_dropout(const float* x, float* y, int64_t n, double p, uint64_t seed) {
  if (!(p >= 0.0 && p < 1.0))
    throw std::invalid_argument("dropout: p must be in [0, 1), got " + std::to_string(p));
  const uint64_t key = splitmix64(seed);
  const uint32_t threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const KernelTable& t = kernels();
  parallel_blocks(n, kDropoutBlock, [&](int64_t b, int64_t e) {
    t.f32_dropout(x ? x + b : nullptr, y + b, e - b, key, b, threshold, scale);
  });
}

}  // namespace

void dropout_forward(const float* x, float* y, int64_t n, double p, uint64_t seed) {
  run_dropout(x, y, n, p, seed);
}

void dropout_backward(const float* dy, float* dx, int64_t n, double p, uint64_t seed) {
  run_dropout(dy, dx, n, p, seed);
}

}  // namespace fastnn
