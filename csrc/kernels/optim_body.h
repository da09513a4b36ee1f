// [optim] The optimizer update formulas and reductions, written ONCE for every ISA.
//
// Included by kernels/{avx2,avx512}/bodies.cpp INSIDE namespace fastnn::<isa>, after that file
// includes its vector traits simd/vec_<isa>.h (`struct Vec`, the one vector abstraction shared with
// the other bodies under simd/), so every function here is compiled with that folder's flags and
// lives in that folder's namespace: nothing built with wide flags can leak into callers on older
// CPUs. It includes nothing itself; the including file provides <cmath>, <cstdint>,
// <type_traits> and fastnn/optim_params.h.
//
// What this body uses of the traits (one register of kWidth floats; ref/optim.cpp is a plain
// scalar reference written independently of this body):
//   F, M, kWidth; all(), first(r)   lane masks: every lane; the first r lanes
//   loadu/storeu, load(m, p)/store(m, p, v)   full and masked (masked-off lanes never touched)
//   set1, zero, add, sub, mul, div, sqrt, abs, fmadd(a, b, c) = a * b + c
//   max(a, b), min(a, b)      x86 semantics: b when either is NaN (so max(lo, x) keeps a NaN x)
//   sign(x)                   -1, 0 or +1 (0 for +-0 and NaN)
//   hsum_d(v) -> double       lanes widened to double, then summed in a fixed order; hmax(v)
//   nan_flags(acc, x)         acc with lanes set where x is NaN; any_set(acc) -> bool
//
// One body per formula: the main loop and the tail call the same function, the tail with masked
// loads and stores (Tail = true). "Plain" instantiations compile the optional work (regularisers,
// masks, AMSGrad) out of the hot loop; the other instantiation tests the flags at run time.

template <class V, bool Tail>
inline typename V::F optim_load(const float* p, typename V::M k) {
  if constexpr (Tail) return V::load(k, p);
  else return V::loadu(p);
}

template <class V, bool Tail>
inline void optim_store(float* p, typename V::F v, typename V::M k) {
  if constexpr (Tail) V::store(k, p, v);
  else V::storeu(p, v);
}

template <class V, class Body>
inline void optim_for_each_vec(int64_t n, Body&& body) {
  int64_t i = 0;
  for (; i + V::kWidth <= n; i += V::kWidth) body(i, std::false_type(), V::all());
  if (i < n) body(i, std::true_type(), V::first(n - i));
}

// One optimizer's update of n elements: step(c, s, i, k, tail, plain) per vector, on local
// copies of the coefficients and the span (stores through float* cannot alias them, so
// pointers and coefficients stay in registers); `plain` (no regularization, no mask, ...)
// selects the instantiation without those branches.
template <class Coef, class Step>
inline void optim_update(const Coef& c_in, const OptimSpan& s_in, int64_t n, bool plain,
                         Step step) {
  const Coef c = c_in;
  const OptimSpan s = s_in;
  auto run = [&](auto plain_c) {
    optim_for_each_vec<Vec>(n, [&](int64_t i, auto tail, typename Vec::M k) {
      step(c, s, i, k, tail, plain_c);
    });
  };
  if (plain) run(std::true_type{});
  else run(std::false_type{});
}

// p <- p * param_scale; g <- g + weight_decay * p + l1 * sign(p)   (see OptimReg)
template <class V>
inline void optim_regularize(const OptimReg& r, typename V::F& p, typename V::F& g) {
  if (r.has_decay) p = V::mul(p, V::set1(r.param_scale));
  if (r.has_l2) g = V::fmadd(V::set1(r.weight_decay), p, g);
  if (r.has_l1) g = V::fmadd(V::set1(r.l1), V::sign(p), g);
}

inline bool optim_reg_off(const OptimReg& r) { return !(r.has_decay || r.has_l2 || r.has_l1); }

// The updated parameter times the pruning mask (pruned weights stay exactly zero), then stored.
template <class V, bool Tail, bool Plain>
inline void optim_store_param(const OptimSpan& s, int64_t i, typename V::M k, typename V::F p) {
  if (!Plain && s.mask) p = V::mul(p, optim_load<V, Tail>(s.mask + i, k));
  optim_store<V, Tail>(s.param + i, p, k);
}

// ---- SGD -----------------------------------------------------------------------------------------
template <class V, bool Tail, bool Plain>
inline void sgd_vec(const SgdCoef& c, const OptimSpan& s, int64_t i, typename V::M k) {
  using F = typename V::F;
  F p = optim_load<V, Tail>(s.param + i, k);
  F g = optim_load<V, Tail>(s.grad + i, k);
  if (!Plain) optim_regularize<V>(c.reg, p, g);
  F d = g;
  if (c.use_momentum) {
    F buf = g;  // torch: the first step's buffer is a copy of the gradient
    if (!c.first) {
      buf = optim_load<V, Tail>(s.s0 + i, k);
      buf = V::fmadd(V::set1(c.one_minus_dampening), g, V::mul(buf, V::set1(c.momentum)));
    }
    optim_store<V, Tail>(s.s0 + i, buf, k);
    d = c.nesterov ? V::fmadd(V::set1(c.momentum), buf, g) : buf;
  }
  p = V::fmadd(V::set1(c.neg_lr), d, p);
  optim_store_param<V, Tail, Plain>(s, i, k, p);
}

void f32_sgd_update(const SgdCoef& c, const OptimSpan& s, int64_t n) {
  optim_update(c, s, n, optim_reg_off(c.reg) && !s.mask, [](const SgdCoef& c, const OptimSpan& s, int64_t i, Vec::M k,
                                   auto tail, auto plain) {
    sgd_vec<Vec, decltype(tail)::value, decltype(plain)::value>(c, s, i, k);
  });
}

// ---- Adagrad -------------------------------------------------------------------------------------
template <class V, bool Tail, bool Plain>
inline void adagrad_vec(const AdagradCoef& c, const OptimSpan& s, int64_t i, typename V::M k) {
  using F = typename V::F;
  F p = optim_load<V, Tail>(s.param + i, k);
  F g = optim_load<V, Tail>(s.grad + i, k);
  if (!Plain) optim_regularize<V>(c.reg, p, g);
  F sum = V::fmadd(g, g, optim_load<V, Tail>(s.s0 + i, k));
  optim_store<V, Tail>(s.s0 + i, sum, k);
  const F std_ = V::add(V::sqrt(sum), V::set1(c.eps));
  p = V::fmadd(V::set1(c.neg_clr), V::div(g, std_), p);
  optim_store_param<V, Tail, Plain>(s, i, k, p);
}

void f32_adagrad_update(const AdagradCoef& c, const OptimSpan& s, int64_t n) {
  optim_update(c, s, n, optim_reg_off(c.reg) && !s.mask, [](const AdagradCoef& c, const OptimSpan& s, int64_t i, Vec::M k,
                                   auto tail, auto plain) {
    adagrad_vec<Vec, decltype(tail)::value, decltype(plain)::value>(c, s, i, k);
  });
}

// ---- RMSprop -------------------------------------------------------------------------------------
template <class V, bool Tail, bool Plain>
inline void rmsprop_vec(const RmspropCoef& c, const OptimSpan& s, int64_t i, typename V::M k) {
  using F = typename V::F;
  F p = optim_load<V, Tail>(s.param + i, k);
  F g = optim_load<V, Tail>(s.grad + i, k);
  if (!Plain) optim_regularize<V>(c.reg, p, g);
  F sq = optim_load<V, Tail>(s.s0 + i, k);
  sq = V::fmadd(V::mul(V::set1(c.one_minus_alpha), g), g, V::mul(sq, V::set1(c.alpha)));
  optim_store<V, Tail>(s.s0 + i, sq, k);
  F avg;
  if (c.centered) {
    F ga = optim_load<V, Tail>(s.s2 + i, k);
    ga = V::fmadd(V::set1(c.one_minus_alpha), V::sub(g, ga), ga);  // lerp(ga, g, 1 - alpha)
    optim_store<V, Tail>(s.s2 + i, ga, k);
    avg = V::sqrt(V::sub(sq, V::mul(ga, ga)));
  } else {
    avg = V::sqrt(sq);
  }
  avg = V::add(avg, V::set1(c.eps));
  F d = V::div(g, avg);
  if (c.use_momentum) {
    d = V::fmadd(optim_load<V, Tail>(s.s1 + i, k), V::set1(c.momentum), d);
    optim_store<V, Tail>(s.s1 + i, d, k);
  }
  p = V::fmadd(V::set1(c.neg_lr), d, p);
  optim_store_param<V, Tail, Plain>(s, i, k, p);
}

void f32_rmsprop_update(const RmspropCoef& c, const OptimSpan& s, int64_t n) {
  optim_update(c, s, n, optim_reg_off(c.reg) && !s.mask, [](const RmspropCoef& c, const OptimSpan& s, int64_t i, Vec::M k,
                                   auto tail, auto plain) {
    rmsprop_vec<Vec, decltype(tail)::value, decltype(plain)::value>(c, s, i, k);
  });
}

// ---- Adam / AdamW --------------------------------------------------------------------------------
template <class V, bool Tail, bool Plain>
inline void adam_vec(const AdamCoef& c, const OptimSpan& s, int64_t i, typename V::M k) {
  using F = typename V::F;
  F p = optim_load<V, Tail>(s.param + i, k);
  F g = optim_load<V, Tail>(s.grad + i, k);
  if (!Plain) optim_regularize<V>(c.reg, p, g);
  F m = optim_load<V, Tail>(s.s0 + i, k);
  F v = optim_load<V, Tail>(s.s1 + i, k);
  m = V::fmadd(V::set1(c.one_minus_beta1), V::sub(g, m), m);  // lerp(m, g, 1 - beta1)
  v = V::fmadd(V::mul(V::set1(c.one_minus_beta2), g), g, V::mul(v, V::set1(c.beta2)));
  optim_store<V, Tail>(s.s0 + i, m, k);
  optim_store<V, Tail>(s.s1 + i, v, k);
  if (!Plain && c.amsgrad) {
    v = V::max(optim_load<V, Tail>(s.s2 + i, k), v);
    optim_store<V, Tail>(s.s2 + i, v, k);
  }
  const F denom = V::fmadd(V::sqrt(v), V::set1(c.inv_bc2_sqrt), V::set1(c.eps));
  p = V::fmadd(V::set1(c.neg_step_size), V::div(m, denom), p);
  optim_store_param<V, Tail, Plain>(s, i, k, p);
}

void f32_adam_update(const AdamCoef& c, const OptimSpan& s, int64_t n) {
  optim_update(c, s, n, optim_reg_off(c.reg) && !s.mask && !c.amsgrad, [](const AdamCoef& c, const OptimSpan& s, int64_t i, Vec::M k,
                                   auto tail, auto plain) {
    adam_vec<Vec, decltype(tail)::value, decltype(plain)::value>(c, s, i, k);
  });
}

// ---- reductions and in-place transforms (clipping, max-norm) --------------------------------------
constexpr int64_t kOptimSumBlock = 1024;  // float-lane partial sums never span more than this

double f32_sum_sq(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kOptimSumBlock) {
    const int64_t nb = n - b < kOptimSumBlock ? n - b : kOptimSumBlock;
    typename Vec::F acc = Vec::zero();
    optim_for_each_vec<Vec>(nb, [&](int64_t i, auto tail, typename Vec::M k) {
      const typename Vec::F a = optim_load<Vec, decltype(tail)::value>(x + b + i, k);
      acc = Vec::fmadd(a, a, acc);
    });
    total += Vec::hsum_d(acc);
  }
  return total;
}

double f32_sum_abs(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kOptimSumBlock) {
    const int64_t nb = n - b < kOptimSumBlock ? n - b : kOptimSumBlock;
    typename Vec::F acc = Vec::zero();
    optim_for_each_vec<Vec>(nb, [&](int64_t i, auto tail, typename Vec::M k) {
      acc = Vec::add(acc, Vec::abs(optim_load<Vec, decltype(tail)::value>(x + b + i, k)));
    });
    total += Vec::hsum_d(acc);
  }
  return total;
}

float f32_max_abs(const float* x, int64_t n) {
  typename Vec::F acc = Vec::zero(), nan = Vec::zero();
  optim_for_each_vec<Vec>(n, [&](int64_t i, auto tail, typename Vec::M k) {
    const typename Vec::F a = optim_load<Vec, decltype(tail)::value>(x + i, k);
    acc = Vec::max(acc, Vec::abs(a));
    nan = Vec::nan_flags(nan, a);
  });
  return Vec::any_set(nan) ? NAN : Vec::hmax(acc);
}

void f32_scale(float* x, int64_t n, float s) {
  const typename Vec::F vs = Vec::set1(s);
  optim_for_each_vec<Vec>(n, [&](int64_t i, auto tail, typename Vec::M k) {
    constexpr bool T = decltype(tail)::value;
    optim_store<Vec, T>(x + i, Vec::mul(optim_load<Vec, T>(x + i, k), vs), k);
  });
}

void f32_clamp(float* x, int64_t n, float lo, float hi) {
  const typename Vec::F vlo = Vec::set1(lo), vhi = Vec::set1(hi);
  optim_for_each_vec<Vec>(n, [&](int64_t i, auto tail, typename Vec::M k) {
    constexpr bool T = decltype(tail)::value;
    const typename Vec::F a = optim_load<Vec, T>(x + i, k);
    optim_store<Vec, T>(x + i, Vec::min(vhi, Vec::max(vlo, a)), k);  // NaN stays NaN
  });
}
