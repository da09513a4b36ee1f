// Drivers for the elementwise layers: activations, softmax, dropout, column sums. They split the
// work into fixed blocks across threads and call the leaves of the active kernel table; argument
// checks on shapes and dtypes happen in the bindings (which see the arrays), value checks here.
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

int64_t block_for(Unary op) {
  return op == Unary::relu || op == Unary::leaky_relu ? kCheapBlock : kMathBlock;
}

}  // namespace

Unary unary_from_int(int code) {
  if (code < static_cast<int>(Unary::relu) || code > static_cast<int>(Unary::gelu))
    throw std::invalid_argument("activation: unknown code " + std::to_string(code));
  return static_cast<Unary>(code);
}

namespace {
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

void unary_forward(Unary op, float param, const float* x, float* y, int64_t n,
                   const ActStats* stats) {
  const KernelTable& t = kernels();
  const int64_t block = is_epilogue_act(op) ? block_for(op) : kMathBlock;
  ActStatsAcc acc(stats, n, block);
  if (is_epilogue_act(op)) {
    const Epilogue ep = epilogue_of(op, param);
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

bool unary_backward_needs_input(Unary op, float param) {
  switch (op) {
    case Unary::gelu: return true;
    case Unary::leaky_relu:
    case Unary::elu: return param < 0.0f || std::isnan(param);
    default: return false;
  }
}

void unary_backward(Unary op, float param, const float* x, const float* y, const float* dy,
                    float* dx, int64_t n, const ActStats* stats) {
  if (unary_backward_needs_input(op, param) && x == nullptr && n > 0)
    throw std::invalid_argument("unary_backward: this activation needs the forward's input");
  const KernelTable& t = kernels();
  if (is_epilogue_act(op)) {
    const Epilogue ep = epilogue_of(op, param);
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

void softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner) {
  if (dim < 1) throw std::invalid_argument("softmax: the softmax dimension must be >= 1");
  const KernelTable& t = kernels();
  if (inner == 1) {
    parallel_blocks(outer, rows_per_block(dim), [&](int64_t b, int64_t e) {
      t.f32_softmax_rows(x + b * dim, y + b * dim, e - b, dim);
    });
    return;
  }
  const float* in[1] = {x};
  softmax_slabs(outer, dim, inner, 1, in, y, [&](const float* xs, const float*, float* ys, int64_t nr) {
    t.f32_softmax_rows(xs, ys, nr, dim);
  });
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                      int64_t inner) {
  if (dim < 1) throw std::invalid_argument("softmax: the softmax dimension must be >= 1");
  const KernelTable& t = kernels();
  if (inner == 1) {
    parallel_blocks(outer, rows_per_block(dim), [&](int64_t b, int64_t e) {
      t.f32_softmax_rows_backward(y + b * dim, dy + b * dim, dx + b * dim, e - b, dim);
    });
    return;
  }
  const float* in[2] = {y, dy};
  softmax_slabs(outer, dim, inner, 2, in, dx,
                [&](const float* ys, const float* gs, float* ds, int64_t nr) {
                  t.f32_softmax_rows_backward(ys, gs, ds, nr, dim);
                });
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
