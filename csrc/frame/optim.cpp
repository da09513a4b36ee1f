// [optim] Fused optimizer steps, zero_grad and gradient clipping: argument checks, per-parameter
// coefficients (computed once per step in double, rounded to float once), and the threaded pass
// over the flat index space of all parameters. Leaf kernels come from kernels(); formulas are in
// fastnn/optim_params.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"
#include "fastnn/optim_params.h"

namespace fastnn {

namespace {

// Below this many elements per thread a fork costs more than it saves.
constexpr int64_t kMinPerThread = 16384;
// Chunks inside a parameter without rows start on a 64-byte multiple of its start.
constexpr int64_t kCutUnit = 16;
// Chunks per thread in a step (handed out dynamically).
constexpr int64_t kChunksPerThread = 8;
// Clipping reduces fixed blocks (independent of the thread count) and sums them in order.
constexpr int64_t kClipBlock = 16384;
// torch.renorm's guard: a row with norm > max_norm is scaled by max_norm / (norm + 1e-7).
constexpr double kMaxNormEps = 1e-7;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// The label of ops.h FASTNN_OPTIM_KIND_LIST; Adam with decoupled weight decay is AdamW.
const char* kind_name(OptimKind kind, bool decoupled) {
  if (kind == OptimKind::adam && decoupled) return "AdamW";
  const char* label = enum_label(kind);
  return label ? label : "optimizer";
}

struct GroupChecker {
  OptimKind kind;
  const OptimGroup& g;
  int gi;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(std::string(kind_name(kind, g.decoupled)) + ": " + what +
                                " (param group " + std::to_string(gi) + ")");
  }
  void nonneg(double v, const char* name) const {
    if (!(v >= 0.0) || !std::isfinite(v))
      fail(std::string(name) + ": expected a finite value >= 0, got " + num(v));
  }
  void positive(double v, const char* name) const {
    if (!(v > 0.0) || !std::isfinite(v))
      fail(std::string(name) + ": expected a finite value > 0, got " + num(v));
  }
  void unit_interval(double v, const char* name, bool closed) const {
    const bool ok = v >= 0.0 && (closed ? v <= 1.0 : v < 1.0);
    if (!ok)
      fail(std::string(name) + ": expected a value in [0, 1" + (closed ? "]" : ")") + ", got " +
           num(v));
  }
};

// Which state buffers a group's options use.
struct Needs {
  bool s0 = false, s1 = false, s2 = false;
};

Needs needs_of(OptimKind kind, const OptimGroup& g) {
  Needs n;
  switch (kind) {
    case OptimKind::sgd: n.s0 = g.momentum != 0.0; break;
    case OptimKind::adagrad: n.s0 = true; break;
    case OptimKind::rmsprop:
      n.s0 = true;
      n.s1 = g.momentum > 0.0;
      n.s2 = g.centered;
      break;
    case OptimKind::adam:
      n.s0 = n.s1 = true;
      n.s2 = g.amsgrad;
      break;
  }
  return n;
}

const char* buffer_option(OptimKind kind, int which) {
  if (kind == OptimKind::rmsprop) return which == 1 ? "momentum" : "centered";
  if (kind == OptimKind::adam) return "amsgrad";
  return "momentum";
}

OptimReg make_reg(const OptimGroup& g, bool decoupled) {
  OptimReg r;
  if (decoupled) {
    r.has_decay = g.weight_decay != 0.0;
    r.param_scale = static_cast<float>(1.0 - g.lr * g.weight_decay);
  } else {
    r.has_l2 = g.weight_decay != 0.0;
    r.weight_decay = static_cast<float>(g.weight_decay);
  }
  r.has_l1 = g.l1 != 0.0;
  r.l1 = static_cast<float>(g.l1);
  return r;
}

// Calls fn(j, a, b) for pieces [a, b) of the parameters j = 0..J-1 laid end to end (start[j] is
// the running sum of sizes, start[J] = N). The N elements are cut into a few contiguous chunks per
// thread, handed out dynamically (a thread the OS deschedules on a busy machine does not hold up
// the others). Cuts fall on unit[j] multiples inside parameter j (whole max-norm rows), and each
// chunk's work is elementwise or per row, so the bits do not depend on the thread count or on
// which thread ran which chunk.
template <class Fn>
void parallel_over_params(const std::vector<int64_t>& start, const std::vector<int64_t>& unit,
                          Fn&& fn) {
  const int64_t J = static_cast<int64_t>(start.size()) - 1;
  const int64_t N = start.back();
  if (N == 0) return;
  const int64_t max_threads = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), N / kMinPerThread));
  const int nt = static_cast<int>(max_threads);
  const int64_t parts = nt == 1 ? 1 : std::min<int64_t>(kChunksPerThread * nt, N / kMinPerThread);
  auto cut = [&](int64_t t) -> int64_t {
    if (t <= 0) return 0;
    if (t >= parts) return N;
    const int64_t x = N / parts * t + (N % parts) * t / parts;
    const int64_t j = std::upper_bound(start.begin(), start.end(), x) - start.begin() - 1;
    if (j >= J) return N;
    const int64_t u = unit[j] > 0 ? unit[j] : kCutUnit;
    const int64_t local = x - start[j];
    return start[j] + local - local % u;
  };
  auto run = [&](int64_t t) {
    const int64_t lo = cut(t), hi = cut(t + 1);
    if (lo >= hi) return;
    int64_t j = std::upper_bound(start.begin(), start.end(), lo) - start.begin() - 1;
    for (; j < J && start[j] < hi; ++j) {
      const int64_t a = std::max(lo, start[j]) - start[j];
      const int64_t b = std::min(hi, start[j + 1]) - start[j];
      if (a < b) fn(j, a, b);
    }
  };
  if (parts == 1) {
    run(0);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t t = 0; t < parts; ++t) run(t);
}

// One fused pass: update each active parameter with its coefficients, then its mask, then (for
// max-norm rows) renormalise each row while it is still in cache.
template <class Coef, class Update>
void run_fused(const std::vector<OptimParam>& params, const std::vector<int>& act,
               const std::vector<Coef>& coefs, const std::vector<double>& max_norm,
               const OptimState& st, Update update) {
  const KernelTable& kt = kernels();
  std::vector<int64_t> start(act.size() + 1, 0), unit(act.size(), 0);
  for (size_t j = 0; j < act.size(); ++j) {
    start[j + 1] = start[j] + params[act[j]].numel;
    unit[j] = max_norm[j] > 0.0 ? params[act[j]].row_len : 0;
  }
  parallel_over_params(start, unit, [&](int64_t j, int64_t a, int64_t b) {
    const OptimParam& d = params[act[j]];
    auto span_at = [&](int64_t i) {
      OptimSpan s;
      s.param = d.param + i;
      s.grad = d.grad + i;
      s.mask = d.mask ? d.mask + i : nullptr;
      s.s0 = st.s0 ? st.s0 + d.offset + i : nullptr;
      s.s1 = st.s1 ? st.s1 + d.offset + i : nullptr;
      s.s2 = st.s2 ? st.s2 + d.offset + i : nullptr;
      return s;
    };
    if (unit[j] == 0) {
      update(coefs[j], span_at(a), b - a);
      return;
    }
    const int64_t L = unit[j];
    const double limit = max_norm[j];
    for (int64_t r = a; r < b; r += L) {
      const OptimSpan s = span_at(r);
      update(coefs[j], s, L);
      const double norm = std::sqrt(kt.f32_sum_sq(s.param, L));
      if (norm > limit) kt.f32_scale(s.param, L, static_cast<float>(limit / (norm + kMaxNormEps)));
    }
  });
}

}  // namespace

void check_optim_group(OptimKind kind, const OptimGroup& g, int gi) {
  if (!enum_valid<OptimKind>(static_cast<int>(kind)))
    throw std::invalid_argument("kind: expected a fastnn._C.OptimKind, got the value " +
                                std::to_string(static_cast<int>(kind)));
  const GroupChecker c{kind, g, gi};
  c.nonneg(g.lr, "lr");
  c.nonneg(g.weight_decay, "weight_decay");
  c.nonneg(g.l1, "l1");
  if (!(g.max_norm >= 0.0) || !std::isfinite(g.max_norm))
    c.fail("max_norm: expected a finite value > 0 (or None), got " + num(g.max_norm));
  if (g.decoupled && kind != OptimKind::adam) c.fail("decoupled weight decay is AdamW only");
  switch (kind) {
    case OptimKind::sgd:
      c.nonneg(g.momentum, "momentum");
      if (!std::isfinite(g.dampening)) c.fail("dampening: expected a finite value, got " + num(g.dampening));
      if (g.nesterov && (g.momentum <= 0.0 || g.dampening != 0.0))
        c.fail("nesterov: requires momentum > 0 and dampening = 0, got momentum " +
               num(g.momentum) + " and dampening " + num(g.dampening));
      break;
    case OptimKind::adagrad:
      c.nonneg(g.lr_decay, "lr_decay");
      c.positive(g.eps, "eps");
      break;
    case OptimKind::rmsprop:
      c.unit_interval(g.alpha, "alpha", true);
      c.nonneg(g.momentum, "momentum");
      c.positive(g.eps, "eps");
      break;
    case OptimKind::adam:
      c.unit_interval(g.beta1, "betas[0]", false);
      c.unit_interval(g.beta2, "betas[1]", false);
      c.positive(g.eps, "eps");
      break;
  }
}

void optim_step(OptimKind kind, const std::vector<OptimParam>& params,
                const std::vector<OptimGroup>& groups, const OptimState& st) {
  // ---- checks: nothing is written until all pass ----
  for (size_t gi = 0; gi < groups.size(); ++gi) check_optim_group(kind, groups[gi], static_cast<int>(gi));
  if (!st.steps) throw std::invalid_argument("optimizer: missing step counters");
  std::vector<int> act;
  act.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const OptimParam& d = params[i];
    if (!d.active) continue;
    if (d.group < 0 || d.group >= static_cast<int>(groups.size()))
      throw std::invalid_argument("params[" + std::to_string(i) + "]: group index " +
                                  std::to_string(d.group) + " out of range for " +
                                  std::to_string(groups.size()) + " param groups");
    if (!d.param || !d.grad || d.numel < 0 || d.offset < 0 || d.offset + d.numel > st.total)
      throw std::invalid_argument("params[" + std::to_string(i) + "]: bad descriptor");
    // The counter is incremented below (a signed overflow at 2**63 - 1) and is Adam's bias
    // correction exponent (a count below 0 would divide by zero).
    if (st.steps[i] < 0 || st.steps[i] == std::numeric_limits<int64_t>::max())
      throw std::invalid_argument("steps[" + std::to_string(i) + "]: expected a step count in "
                                  "[0, 2**63 - 1), got " + std::to_string(st.steps[i]));
    const OptimGroup& g = groups[d.group];
    const Needs n = needs_of(kind, g);
    float* const bufs[3] = {st.s0, st.s1, st.s2};
    const bool need[3] = {n.s0, n.s1, n.s2};
    for (int w = 0; w < 3; ++w)
      if (need[w] && !bufs[w])
        throw std::invalid_argument(
            std::string(kind_name(kind, g.decoupled)) + ": " + buffer_option(kind, w) +
            ": param group " + std::to_string(d.group) +
            " needs a state buffer the optimizer was built without; set this option when "
            "constructing the optimizer");
    act.push_back(static_cast<int>(i));
  }

  // ---- coefficients (double -> float once), then the step counters ----
  std::vector<double> max_norm(act.size());
  for (size_t j = 0; j < act.size(); ++j) {
    const OptimParam& d = params[act[j]];
    max_norm[j] = d.row_len > 0 ? groups[d.group].max_norm : 0.0;
  }
  const KernelTable& kt = kernels();
  auto commit_steps = [&] {
    for (int i : act) st.steps[i] += 1;
  };
  switch (kind) {
    case OptimKind::sgd: {
      std::vector<SgdCoef> c(act.size());
      for (size_t j = 0; j < act.size(); ++j) {
        const OptimGroup& g = groups[params[act[j]].group];
        c[j].reg = make_reg(g, false);
        c[j].neg_lr = static_cast<float>(-g.lr);
        c[j].momentum = static_cast<float>(g.momentum);
        c[j].one_minus_dampening = static_cast<float>(1.0 - g.dampening);
        c[j].use_momentum = g.momentum != 0.0;
        c[j].nesterov = g.nesterov;
        c[j].first = st.steps[act[j]] == 0;
      }
      commit_steps();
      run_fused(params, act, c, max_norm, st, kt.f32_sgd_update);
      break;
    }
    case OptimKind::adagrad: {
      std::vector<AdagradCoef> c(act.size());
      for (size_t j = 0; j < act.size(); ++j) {
        const OptimGroup& g = groups[params[act[j]].group];
        const double t = static_cast<double>(st.steps[act[j]] + 1);
        c[j].reg = make_reg(g, false);
        c[j].neg_clr = static_cast<float>(-(g.lr / (1.0 + (t - 1.0) * g.lr_decay)));
        c[j].eps = static_cast<float>(g.eps);
      }
      commit_steps();
      run_fused(params, act, c, max_norm, st, kt.f32_adagrad_update);
      break;
    }
    case OptimKind::rmsprop: {
      std::vector<RmspropCoef> c(act.size());
      for (size_t j = 0; j < act.size(); ++j) {
        const OptimGroup& g = groups[params[act[j]].group];
        c[j].reg = make_reg(g, false);
        c[j].neg_lr = static_cast<float>(-g.lr);
        c[j].alpha = static_cast<float>(g.alpha);
        c[j].one_minus_alpha = static_cast<float>(1.0 - g.alpha);
        c[j].eps = static_cast<float>(g.eps);
        c[j].momentum = static_cast<float>(g.momentum);
        c[j].use_momentum = g.momentum > 0.0;
        c[j].centered = g.centered;
      }
      commit_steps();
      run_fused(params, act, c, max_norm, st, kt.f32_rmsprop_update);
      break;
    }
    case OptimKind::adam: {
      std::vector<AdamCoef> c(act.size());
      for (size_t j = 0; j < act.size(); ++j) {
        const OptimGroup& g = groups[params[act[j]].group];
        const double t = static_cast<double>(st.steps[act[j]] + 1);
        const double bc1 = 1.0 - std::pow(g.beta1, t);
        const double bc2 = 1.0 - std::pow(g.beta2, t);
        c[j].reg = make_reg(g, g.decoupled);
        c[j].one_minus_beta1 = static_cast<float>(1.0 - g.beta1);
        c[j].beta2 = static_cast<float>(g.beta2);
        c[j].one_minus_beta2 = static_cast<float>(1.0 - g.beta2);
        c[j].neg_step_size = static_cast<float>(-(g.lr / bc1));
        c[j].inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
        c[j].eps = static_cast<float>(g.eps);
        c[j].amsgrad = g.amsgrad;
      }
      commit_steps();
      run_fused(params, act, c, max_norm, st, kt.f32_adam_update);
      break;
    }
  }
}

void optim_zero_grad(const std::vector<OptimParam>& params) {
  std::vector<const OptimParam*> with_grad;
  for (const OptimParam& d : params)
    if (d.grad && d.numel > 0) with_grad.push_back(&d);
  std::vector<int64_t> start(with_grad.size() + 1, 0), unit(with_grad.size(), 0);
  for (size_t j = 0; j < with_grad.size(); ++j) start[j + 1] = start[j] + with_grad[j]->numel;
  parallel_over_params(start, unit, [&](int64_t j, int64_t a, int64_t b) {
    std::memset(with_grad[j]->grad + a, 0, static_cast<size_t>(b - a) * sizeof(float));
  });
}

// ---- gradient clipping ---------------------------------------------------------------------------

namespace {

struct Block {
  float* p;
  int64_t n;
};

std::vector<Block> blocks_of(const std::vector<GradSpan>& grads) {
  std::vector<Block> out;
  for (const GradSpan& g : grads) {
    if (g.n < 0 || (g.n > 0 && !g.data)) throw std::invalid_argument("grads: bad gradient view");
    for (int64_t o = 0; o < g.n; o += kClipBlock) out.push_back({g.data + o, std::min(kClipBlock, g.n - o)});
  }
  return out;
}

int threads_for(size_t nblocks) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), static_cast<int64_t>(nblocks))));
}

void check_norm_type(double norm_type) {
  if (!(norm_type > 0.0))
    throw std::invalid_argument("norm_type: expected a value > 0 or inf, got " + num(norm_type));
}

double norm_of_blocks(const std::vector<Block>& blocks, double norm_type) {
  const KernelTable& kt = kernels();
  std::vector<double> part(blocks.size(), 0.0);
  const int64_t nb = static_cast<int64_t>(blocks.size());
  const bool is_inf = std::isinf(norm_type), is_two = norm_type == 2.0, is_one = norm_type == 1.0;
#pragma omp parallel for num_threads(threads_for(blocks.size())) schedule(static)
  for (int64_t b = 0; b < nb; ++b) {
    const Block& k = blocks[b];
    if (is_inf) part[b] = kt.f32_max_abs(k.p, k.n);
    else if (is_two) part[b] = kt.f32_sum_sq(k.p, k.n);
    else if (is_one) part[b] = kt.f32_sum_abs(k.p, k.n);
    else part[b] = kt.f32_sum_abs_pow(k.p, k.n, norm_type);
  }
  if (is_inf) {
    double m = 0.0;
    for (double v : part) {
      if (std::isnan(v)) return NAN;
      m = std::max(m, v);
    }
    return m;
  }
  double total = 0.0;
  for (double v : part) total += v;  // fixed order: the thread count does not change the bits
  if (is_two) return std::sqrt(total);
  if (is_one) return total;
  return std::pow(total, 1.0 / norm_type);
}

}  // namespace

double grad_norm(const std::vector<GradSpan>& grads, double norm_type) {
  check_norm_type(norm_type);
  return norm_of_blocks(blocks_of(grads), norm_type);
}

double clip_grad_norm(const std::vector<GradSpan>& grads, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  if (!(max_norm >= 0.0))
    throw std::invalid_argument("max_norm: expected a value >= 0, got " + num(max_norm));
  check_norm_type(norm_type);
  const std::vector<Block> blocks = blocks_of(grads);
  const double total = norm_of_blocks(blocks, norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    throw std::runtime_error("clip_grad_norm_: the total norm of order " + num(norm_type) +
                             " of the gradients is non-finite (" + num(total) +
                             "), so it cannot be clipped; pass error_if_nonfinite=False to "
                             "scale them anyway");
  // As torch: grads *= min(max_norm / (total + 1e-6), 1); a NaN coefficient propagates.
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1.0)) {
    const KernelTable& kt = kernels();
    const float c = static_cast<float>(coef);
    const int64_t nb = static_cast<int64_t>(blocks.size());
#pragma omp parallel for num_threads(threads_for(blocks.size())) schedule(static)
    for (int64_t b = 0; b < nb; ++b) kt.f32_scale(blocks[b].p, blocks[b].n, c);
  }
  return total;
}

void clip_grad_value(const std::vector<GradSpan>& grads, double clip_value) {
  if (!(clip_value >= 0.0))
    throw std::invalid_argument("clip_value: expected a value >= 0, got " + num(clip_value));
  const std::vector<Block> blocks = blocks_of(grads);
  const KernelTable& kt = kernels();
  const float c = static_cast<float>(clip_value);
  const int64_t nb = static_cast<int64_t>(blocks.size());
#pragma omp parallel for num_threads(threads_for(blocks.size())) schedule(static)
  for (int64_t b = 0; b < nb; ++b) kt.f32_clamp(blocks[b].p, blocks[b].n, -c, c);
}

}  // namespace fastnn
