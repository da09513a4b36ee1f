// Elementwise layer kernels written once for every SIMD ISA (templates over the vector traits S,
// the `Vec` of vec_avx2.h or vec_avx512.h; see vmath_body.h for why that cannot leak across ISAs).
// The contracts are those of the function-pointer types in kernel_table.h; ref/elementwise.cpp is
// the plain scalar reference of each.
//
// One body per kernel: for_blocks runs the same lambda on full vectors and, once, on the masked
// tail, so no formula is written twice.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastnn/params.h"
#include "vmath_body.h"

namespace fastnn {
namespace simd {

template <class S, class F>
inline void for_blocks(int64_t n, F&& body) {
  int64_t i = 0;
  for (; i + S::kWidth <= n; i += S::kWidth) body(i, S::all());
  if (i < n) body(i, S::first(n - i));
}

// y = f(x) lane by lane.
template <class S, class F>
inline void map(const float* x, float* y, int64_t n, F&& f) {
  for_blocks<S>(n, [&](int64_t i, typename S::M m) { S::store(m, y + i, f(S::load(m, x + i))); });
}

// dx = f(in, dy) lane by lane.
template <class S, class F>
inline void map2(const float* in, const float* dy, float* dx, int64_t n, F&& f) {
  for_blocks<S>(n, [&](int64_t i, typename S::M m) {
    S::store(m, dx + i, f(S::load(m, in + i), S::load(m, dy + i)));
  });
}

// ---- The vector math itself (the table's f32_vmath: fn is a VMath code of ops.h) -----------------
template <class S>
void vmath_eval(int fn, const float* x, float* y, int64_t n) {
  using V = typename S::F;
  switch (fn) {
    case 0: map<S>(x, y, n, [](V v) { return vexp<S>(v); }); return;
    case 1: map<S>(x, y, n, [](V v) { return expm1_nonpos<S>(S::min(S::zero(), v)); }); return;
    case 2: map<S>(x, y, n, [](V v) { return vtanh<S>(v); }); return;
    case 3: map<S>(x, y, n, [](V v) { return vsigmoid<S>(v); }); return;
    case 4: map<S>(x, y, n, [](V v) { return phi_tail<S>(v); }); return;
    case 5: map<S>(x, y, n, [](V v) { V q, g; phi_tail<S>(v, q, g); return q; }); return;
    case 6: map<S>(x, y, n, [](V v) { V q, g; phi_tail<S>(v, q, g); return g; }); return;
    default: return;  // the frame admits only the codes above
  }
}

// ---- Epilogue activations (the table's f32_act; the GEMM epilogue calls it) ---------------------
template <class S>
void act_forward(const float* x, float* y, int64_t n, const Epilogue& ep) {
  using V = typename S::F;
  const V zero = S::zero(), p = S::set1(ep.param);
  switch (ep.act) {
    case Act::none:
      if (x != y) map<S>(x, y, n, [](V v) { return v; });
      return;
    case Act::relu:  // le is false for NaN: NaN passes through; -0 becomes +0
      map<S>(x, y, n, [&](V v) { return S::select(S::le(v, zero), v, zero); });
      return;
    case Act::leaky_relu:
      map<S>(x, y, n, [&](V v) { return S::select(S::gt(v, zero), S::mul(v, p), v); });
      return;
    case Act::elu:
      map<S>(x, y, n, [&](V v) {
        return S::select(S::gt(v, zero), S::mul(p, expm1_nonpos<S>(S::min(zero, v))), v);
      });
      return;
    case Act::sigmoid:
      map<S>(x, y, n, [](V v) { return vsigmoid<S>(v); });
      return;
    case Act::tanh:
      map<S>(x, y, n, [](V v) { return vtanh<S>(v); });
      return;
  }
}

template <class S>
void act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                  const Epilogue& ep) {
  using V = typename S::F;
  using M = typename S::M;
  const V zero = S::zero(), one = S::set1(1.0f), p = S::set1(ep.param);
  const float* br = x ? x : y;  // where the branch x > 0 is read
  switch (ep.act) {
    case Act::none:
      if (dy != dx) map<S>(dy, dx, n, [](V g) { return g; });
      return;
    case Act::relu:
      map2<S>(br, dy, dx, n, [&](V b, V g) { return S::select(S::gt(b, zero), zero, g); });
      return;
    case Act::leaky_relu:
      map2<S>(br, dy, dx, n, [&](V b, V g) { return S::select(S::gt(b, zero), S::mul(g, p), g); });
      return;
    case Act::elu:  // x <= 0: d/dx alpha (e^x - 1) = alpha e^x = y + alpha
      for_blocks<S>(n, [&](int64_t i, M m) {
        const V b = S::load(m, br + i), yv = S::load(m, y + i), g = S::load(m, dy + i);
        S::store(m, dx + i, S::select(S::gt(b, zero), S::mul(g, S::add(yv, p)), g));
      });
      return;
    case Act::sigmoid:
      map2<S>(y, dy, dx, n, [&](V yv, V g) { return S::mul(g, S::mul(yv, S::sub(one, yv))); });
      return;
    case Act::tanh:
      map2<S>(y, dy, dx, n, [&](V yv, V g) { return S::mul(g, S::fnmadd(yv, yv, one)); });
      return;
  }
}

// ---- SELU (torch's constants) and exact GELU ----------------------------------------------------
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kInvSqrt2Pi = 0.3989422804014326779399460599343f;

template <class S>
void selu_forward(const float* x, float* y, int64_t n) {
  using V = typename S::F;
  const V zero = S::zero(), scale = S::set1(kSeluScale), sa = S::set1(kSeluScale * kSeluAlpha);
  map<S>(x, y, n, [&](V v) {
    const V neg = S::mul(sa, expm1_nonpos<S>(S::min(zero, v)));
    return S::select(S::gt(v, zero), neg, S::mul(scale, v));
  });
}

// From the output: y > 0 exactly where x > 0; below, d/dx = scale alpha e^x = y + scale alpha.
template <class S>
void selu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  using V = typename S::F;
  const V zero = S::zero(), scale = S::set1(kSeluScale), sa = S::set1(kSeluScale * kSeluAlpha);
  map2<S>(y, dy, dx, n, [&](V yv, V g) {
    return S::mul(g, S::select(S::gt(yv, zero), S::add(yv, sa), scale));
  });
}

// gelu(x) = x Phi(x); Phi from the tail q = Phi(-|x|) so that Phi(x) for x << 0 keeps its
// relative accuracy (1 + erf(x/sqrt2) would cancel).
template <class S>
void gelu_forward(const float* x, float* y, int64_t n) {
  using V = typename S::F;
  const V zero = S::zero(), one = S::set1(1.0f);
  map<S>(x, y, n, [&](V v) {
    const V q = phi_tail<S>(v);
    return S::mul(v, S::select(S::lt(v, zero), S::sub(one, q), q));
  });
}

// d/dx x Phi(x) = Phi(x) + x phi(x).
template <class S>
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  using V = typename S::F;
  const V zero = S::zero(), one = S::set1(1.0f), c = S::set1(kInvSqrt2Pi);
  map2<S>(x, dy, dx, n, [&](V v, V gr) {
    V q, g;
    phi_tail<S>(v, q, g);
    const V phi = S::select(S::lt(v, zero), S::sub(one, q), q);
    return S::mul(gr, S::fmadd(S::mul(v, c), g, phi));
  });
}

// ---- softmax over contiguous rows -------------------------------------------------------------
template <class S>
inline float row_max(const float* x, int64_t cols) {
  using V = typename S::F;
  const V ninf = S::set1(-std::numeric_limits<float>::infinity());
  V vmax = ninf;
  for_blocks<S>(cols, [&](int64_t i, typename S::M m) {
    vmax = S::max(vmax, S::load_or(m, x + i, ninf));
  });
  return S::hmax(vmax);
}

// sum_j exp(x_j - mx); optionally stores the exponentials to e.
template <class S>
inline float row_sum_exp(const float* x, int64_t cols, float mx, float* e) {
  using V = typename S::F;
  const V ninf = S::set1(-std::numeric_limits<float>::infinity()), vm = S::set1(mx);
  V vs = S::zero();
  for_blocks<S>(cols, [&](int64_t i, typename S::M m) {
    const V ev = vexp<S>(S::sub(S::load_or(m, x + i, ninf), vm));  // masked lanes: exp(-inf) = 0
    if (e) S::store(m, e + i, ev);
    vs = S::add(vs, ev);
  });
  return S::hsum(vs);
}

template <class S>
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float s = row_sum_exp<S>(xr, cols, row_max<S>(xr, cols), yr);
    const typename S::F inv = S::set1(1.0f / s);
    map<S>(yr, yr, cols, [&](typename S::F v) { return S::mul(v, inv); });
  }
}

template <class S>
void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  using V = typename S::F;
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    V vd = S::zero();
    for_blocks<S>(cols, [&](int64_t i, typename S::M m) {
      vd = S::fmadd(S::load(m, yr + i), S::load(m, gr + i), vd);
    });
    const V dot = S::set1(S::hsum(vd));
    map2<S>(yr, gr, dx + r * cols, cols, [&](V yv, V g) { return S::mul(yv, S::sub(g, dot)); });
  }
}

// ---- log-softmax over contiguous rows --------------------------------------------------------
// y = (x - max) - log(sum exp(x - max)); PyTorch's order of operations.
template <class S>
void log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  using V = typename S::F;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float mx = row_max<S>(xr, cols);
    const V vm = S::set1(mx), vl = S::set1(std::log(row_sum_exp<S>(xr, cols, mx, nullptr)));
    map<S>(xr, y + r * cols, cols, [&](V v) { return S::sub(S::sub(v, vm), vl); });
  }
}

// dx = dy - exp(y) * sum(dy) per row (dx may alias dy: the sum is taken first).
template <class S>
void log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                               int64_t cols) {
  using V = typename S::F;
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = dy + r * cols;
    V vs = S::zero();
    for_blocks<S>(cols, [&](int64_t i, typename S::M m) { vs = S::add(vs, S::load(m, gr + i)); });
    const V sum = S::set1(S::hsum(vs));
    map2<S>(y + r * cols, gr, dx + r * cols, cols,
            [&](V yv, V g) { return S::fnmadd(vexp<S>(yv), sum, g); });
  }
}

// ---- hardtanh, hardsigmoid, hardswish, softplus, softsign, mish (params.h Unary codes >= 8) ---
// Constants: params.h ActParams. NaN inputs give NaN outputs (clamps are min(hi, max(lo, x))).
// Backward branches follow PyTorch's kernels, NaN included: hardtanh and hardswish pass the
// gradient at NaN (their "outside" tests are false), hardsigmoid gives 0 there.
#define FASTNN_ACT_CODE_(name, value, label) constexpr int k_##name = value;
FASTNN_UNARY_LIST(FASTNN_ACT_CODE_)
#undef FASTNN_ACT_CODE_

// log(1 + t) for t in [0, 1] (softplus's log1p(exp(-|x|))). Below sqrt2 - 1, f = t exactly and
// log(1 + f) = f - f^2/2 + f^3 P(f) with P the Cephes logf polynomial (|f| <= 0.4143, ~1 ulp);
// above, 1 + t = 2 (1 + f) with f = (1 + t)/2 - 1 in [-0.293, 0] (exact by Sterbenz), plus ln2
// split in two. Tiny t gives t itself.
template <class S>
inline typename S::F log1p_unit(typename S::F t) {
  using V = typename S::F;
  const V one = S::set1(1.0f);
  const auto big = S::lt(S::set1(0.41421356f), t);
  const V f = S::select(big, t, S::fmsub(S::add(one, t), S::set1(0.5f), one));
  const V k = S::select(big, S::zero(), one);
  V q = S::set1(7.0376836292e-2f);
  q = S::fmadd(q, f, S::set1(-1.1514610310e-1f));
  q = S::fmadd(q, f, S::set1(1.1676998740e-1f));
  q = S::fmadd(q, f, S::set1(-1.2420140846e-1f));
  q = S::fmadd(q, f, S::set1(1.4249322787e-1f));
  q = S::fmadd(q, f, S::set1(-1.6668057665e-1f));
  q = S::fmadd(q, f, S::set1(2.0000714765e-1f));
  q = S::fmadd(q, f, S::set1(-2.4999993993e-1f));
  q = S::fmadd(q, f, S::set1(3.3333331174e-1f));
  const V z = S::mul(f, f);
  V r = S::mul(S::mul(q, f), z);
  r = S::fmadd(k, S::set1(-2.12194440e-4f), r);
  r = S::fnmadd(S::set1(0.5f), z, r);
  return S::fmadd(k, S::set1(0.693359375f), S::add(f, r));
}

template <class S>
void act_ext_forward(int op, const float* x, float* y, int64_t n, const ActParams& p) {
  using V = typename S::F;
  const V zero = S::zero(), one = S::set1(1.0f), three = S::set1(3.0f), six = S::set1(6.0f);
  const V pa = S::set1(p.a), pb = S::set1(p.b), lo = S::set1(p.lo), hi = S::set1(p.hi);
  switch (op) {
    case k_hardtanh:
      map<S>(x, y, n, [&](V v) { return S::min(hi, S::max(lo, v)); });
      return;
    case k_hardsigmoid:
      map<S>(x, y, n, [&](V v) { return S::min(one, S::max(zero, S::fmadd(v, pa, pb))); });
      return;
    case k_hardswish:  // x * clamp(x + 3, 0, 6) / 6, PyTorch's order
      map<S>(x, y, n, [&](V v) {
        return S::div(S::mul(v, S::min(six, S::max(zero, S::add(v, three)))), six);
      });
      return;
    case k_softplus:  // log(1 + e^(bx)) = max(bx, 0) + log1p(e^-|bx|): no overflow
      map<S>(x, y, n, [&](V v) {
        const V bx = S::mul(v, pa);
        const V sp = S::add(S::max(zero, bx), log1p_unit<S>(vexp<S>(S::sub(zero, S::abs(bx)))));
        return S::select(S::gt(bx, pb), S::div(sp, pa), v);
      });
      return;
    case k_softsign:
      map<S>(x, y, n, [&](V v) { return S::div(v, S::add(one, S::abs(v))); });
      return;
    case k_mish: {  // x tanh(log(1 + u)) = x m / (m + 2), u = e^x, m = u (u + 2); x > 20: x
      const V two = S::set1(2.0f), twenty = S::set1(20.0f);
      map<S>(x, y, n, [&](V v) {
        const V u = vexp<S>(S::min(v, twenty)), m = S::mul(u, S::add(u, two));
        return S::select(S::gt(v, twenty), S::div(S::mul(v, m), S::add(m, two)), v);
      });
      return;
    }
    default: return;  // the frame admits only the codes above
  }
}

template <class S>
void act_ext_backward(int op, const float* x, const float* dy, float* dx, int64_t n,
                      const ActParams& p) {
  using V = typename S::F;
  const V zero = S::zero(), one = S::set1(1.0f), half = S::set1(0.5f), three = S::set1(3.0f);
  const V mthree = S::set1(-3.0f);
  const V pa = S::set1(p.a), pb = S::set1(p.b), lo = S::set1(p.lo), hi = S::set1(p.hi);
  switch (op) {
    case k_hardtanh:  // 0 where x <= lo or x >= hi
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        return S::select(S::le(v, lo), S::select(S::le(hi, v), g, zero), zero);
      });
      return;
    case k_hardsigmoid:  // alpha where lo < x < hi
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        return S::select(S::gt(v, lo), zero, S::select(S::lt(v, hi), zero, S::mul(g, pa)));
      });
      return;
    case k_hardswish:  // x <= -3: 0; x < 3: x/3 + 1/2; else (3 and NaN included) 1
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        const V mid = S::mul(g, S::add(S::div(v, three), half));
        return S::select(S::le(v, mthree), S::select(S::lt(v, three), g, mid), zero);
      });
      return;
    case k_softplus:
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        const V bx = S::mul(v, pa);
        return S::select(S::gt(bx, pb), S::mul(g, vsigmoid<S>(bx)), g);
      });
      return;
    case k_softsign:  // 1 / (1 + |x|)^2
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        const V d = S::add(one, S::abs(v));
        return S::div(g, S::mul(d, d));
      });
      return;
    case k_mish: {  // tanh(sp) + x sigmoid(x) sech^2(sp), sech^2(sp) = 4 (m + 1) / (m + 2)^2
      const V two = S::set1(2.0f), four = S::set1(4.0f), twenty = S::set1(20.0f);
      map2<S>(x, dy, dx, n, [&](V v, V g) {
        const V u = vexp<S>(S::min(v, twenty)), m = S::mul(u, S::add(u, two)), d = S::add(m, two);
        const V sech2 = S::div(S::mul(four, S::add(m, one)), S::mul(d, d));
        const V slope = S::fmadd(S::mul(v, S::div(u, S::add(one, u))), sech2, S::div(m, d));
        return S::select(S::gt(v, twenty), S::mul(g, slope), g);
      });
      return;
    }
    default: return;
  }
}

// ---- PReLU: one contiguous run of one channel, slope scalar -----------------------------------
template <class S>
void prelu_run(const float* x, float* y, int64_t n, float slope) {
  using V = typename S::F;
  const V zero = S::zero(), s = S::set1(slope);
  map<S>(x, y, n, [&](V v) { return S::select(S::gt(v, zero), S::mul(v, s), v); });
}

// Masked tail lanes load 0 and add 0 to the slope's sum.
template <class S>
void prelu_run_backward(const float* x, const float* dy, float* dx, int64_t n, float slope,
                        float* dslope) {
  using V = typename S::F;
  const V zero = S::zero(), s = S::set1(slope);
  V acc = zero;
  for_blocks<S>(n, [&](int64_t i, typename S::M m) {
    const V v = S::load(m, x + i), g = S::load(m, dy + i);
    const auto pos = S::gt(v, zero);
    S::store(m, dx + i, S::select(pos, S::mul(g, s), g));
    acc = S::add(acc, S::select(pos, S::mul(v, g), zero));
  });
  *dslope = S::hsum(acc);
}

// Rows with one slope per column.
template <class S>
void prelu_rows(const float* x, float* y, int64_t rows, int64_t cols, const float* slope) {
  using V = typename S::F;
  const V zero = S::zero();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    for_blocks<S>(cols, [&](int64_t j, typename S::M m) {
      const V v = S::load(m, xr + j);
      S::store(m, yr + j, S::select(S::gt(v, zero), S::mul(v, S::load(m, slope + j)), v));
    });
  }
}

// Column blocks outside, rows inside (as colsum_acc): each column's sum is one register.
template <class S>
void prelu_rows_backward(const float* x, const float* dy, float* dx, int64_t rows, int64_t cols,
                         const float* slope, float* dslope) {
  using V = typename S::F;
  const V zero = S::zero();
  for_blocks<S>(cols, [&](int64_t j, typename S::M m) {
    const V s = S::load(m, slope + j);
    V acc = zero;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = r * cols + j;
      const V v = S::load(m, x + o), g = S::load(m, dy + o);
      const auto pos = S::gt(v, zero);
      S::store(m, dx + o, S::select(pos, S::mul(g, s), g));
      acc = S::add(acc, S::select(pos, S::mul(v, g), zero));
    }
    S::store(m, dslope + j, S::add(S::load(m, dslope + j), acc));
  });
}

// ---- column sums (bias gradients) ----------------------------------------------------------------
template <class S>
void colsum_acc(const float* x, int64_t rows, int64_t cols, int64_t ld, float* ycol) {
  for_blocks<S>(cols, [&](int64_t j, typename S::M m) {
    typename S::F acc = S::zero();
    for (int64_t i = 0; i < rows; ++i) acc = S::add(acc, S::load(m, x + i * ld + j));
    S::store(m, ycol + j, S::add(S::load(m, ycol + j), acc));
  });
}

// ---- dropout -------------------------------------------------------------------------------------
// The keep decision of element i is a pure function of (key, i), so the mask is the same for any
// thread count and chunking, and backward regenerates it instead of storing it:
//   h = lowbias32(lowbias32(lo32(i) + k0) ^ k1 ^ hi32(i) * 0x9E3779B9), (k0, k1) = halves of key,
//   keep = (h >> 8) >= threshold, threshold = ceil(p 2^24).
// lowbias32 is C. Wellons' 32-bit integer hash (a bijection with low avalanche bias); the frame
// passes key = splitmix64(seed) so that nearby seeds give unrelated streams.
template <class S>
inline typename S::I lowbias32(typename S::I h) {
  h = S::xori(h, S::template srli<16>(h));
  h = S::muli(h, 0x7feb352d);
  h = S::xori(h, S::template srli<15>(h));
  h = S::muli(h, 0x846ca68b);
  return S::xori(h, S::template srli<16>(h));
}

template <class S>
void dropout(const float* x, float* y, int64_t n, uint64_t key, int64_t offset, uint32_t threshold,
             float scale) {
  using V = typename S::F;
  using I = typename S::I;
  const uint64_t off = static_cast<uint64_t>(offset);
  const I k0 = S::set1i(static_cast<uint32_t>(key));
  const uint32_t hi = static_cast<uint32_t>(off >> 32);
  const I k1 = S::set1i(static_cast<uint32_t>(key >> 32) ^ (hi * 0x9E3779B9u));
  const I lo0 = S::addi(S::set1i(static_cast<uint32_t>(off)), S::iota());
  const I thr = S::set1i(threshold - 1u);  // (h >> 8) < 2^24, so a signed compare is exact
  const V vscale = S::set1(scale), zero = S::zero();
  for_blocks<S>(n, [&](int64_t i, typename S::M m) {
    const I idx = S::addi(lo0, S::set1i(static_cast<uint32_t>(i)));
    const I h = lowbias32<S>(S::xori(lowbias32<S>(S::addi(idx, k0)), k1));
    const V mv = S::select(S::gti(S::template srli<8>(h), thr), zero, vscale);
    S::store(m, y + i, x ? S::mul(S::load(m, x + i), mv) : mv);
  });
}

}  // namespace simd
}  // namespace fastnn
