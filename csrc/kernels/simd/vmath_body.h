// Vector math written once for every SIMD ISA: templates over the vector traits S (the `Vec` of
// vec_avx2.h, vec_avx512.h: S::F floats, S::I int32 lanes, S::M masks from compares and tails).
// Each instantiation is a distinct symbol (fastnn::simd::vexp<fastnn::avx512::Vec>), so code built
// with one ISA's flags is never linked into another ISA's path.
//
// Accuracy (float32 against float64): the worst over every float32 input, measured by
// tests/kernels/vmath_exhaustive.py and held by tests/kernels/test_vmath.py through _C.vmath; the
// same bits on AVX2 and AVX-512. Subnormal results are measured in units of their spacing 2^-149.
//   vexp: 1.02 ulp; subnormal results 0.76; exp(x) = inf exactly where the rounded exp
//         overflows (x > 88.72283), exp(x < -104) = 0.
//   expm1_nonpos: 0.86 ulp for x <= 0 (relative, also near 0). vtanh 2.50 ulp. vsigmoid 2.83 ulp,
//         subnormal results 0.76.
//   phi_tail (Gaussian tail, for the exact-erf GELU): 6.40 ulp where the result is normal (the
//         worst near x = 0, where it is ~1/2), 2.28 where subnormal. The two-output phi_tail:
//         q 7.02 ulp (subnormal 2.41), g = exp(-x^2/2) 1.49 ulp (subnormal 1.23).
// NaN inputs give NaN (clamps are written min(hi, max(lo, x)): x86 max/min return the second
// operand when either is NaN). +-inf give the limits.
#pragma once
#include <cstdint>

namespace fastnn {
namespace simd {

// e^r - 1 for |r| <= ln2/2: r + r^2 P(r), P the Cephes expf polynomial (relative error ~1e-7).
template <class S>
inline typename S::F expm1_reduced(typename S::F r) {
  typename S::F q = S::set1(1.9875691500e-4f);
  q = S::fmadd(q, r, S::set1(1.3981999507e-3f));
  q = S::fmadd(q, r, S::set1(8.3334519073e-3f));
  q = S::fmadd(q, r, S::set1(4.1665795894e-2f));
  q = S::fmadd(q, r, S::set1(1.6666665459e-1f));
  q = S::fmadd(q, r, S::set1(5.0000001201e-1f));
  return S::fmadd(q, S::mul(r, r), r);
}

// x = k ln2 + r, |r| <= ln2/2, with ln2 split in two so k * ln2_hi is exact (Cody-Waite).
template <class S>
inline typename S::F reduce_ln2(typename S::F x, typename S::F& k) {
  k = S::round(S::mul(x, S::set1(1.44269504088896341f)));
  typename S::F r = S::fnmadd(k, S::set1(0.693359375f), x);
  return S::fnmadd(k, S::set1(-2.12194440e-4f), r);
}

template <class S>
inline typename S::F vexp(typename S::F x) {
  x = S::min(S::set1(89.0f), S::max(S::set1(-104.0f), x));
  typename S::F k;
  const typename S::F r = reduce_ln2<S>(x, k);
  // (1 + (e^r - 1)) 2^k, k in [-150, 129]: S::ldexp rounds once into the subnormal range or
  // overflows to inf where exp does.
  return S::ldexp(S::add(S::set1(1.0f), expm1_reduced<S>(r)), k);
}

// e^x - 1 for x <= 0 (callers pass min(x, 0)): 2^k (e^r - 1) + (2^k - 1), accurate near 0 where
// exp(x) - 1 would cancel. Below -18 the result is -1 to float precision.
template <class S>
inline typename S::F expm1_nonpos(typename S::F x) {
  using V = typename S::F;
  x = S::max(S::set1(-18.0f), x);
  V k;
  const V r = reduce_ln2<S>(x, k);
  const V s = S::pow2(S::cvti(k));  // k in [-26, 0]
  return S::fmadd(s, expm1_reduced<S>(r), S::sub(s, S::set1(1.0f)));
}

// tanh x = sign(x) * -e / (2 + e), e = expm1(-2|x|): no cancellation near 0, exactly +-1 far out.
template <class S>
inline typename S::F vtanh(typename S::F x) {
  const typename S::F e = expm1_nonpos<S>(S::mul(S::set1(-2.0f), S::abs(x)));
  const typename S::F t = S::div(S::sub(S::zero(), e), S::add(S::set1(2.0f), e));
  return S::copysign(t, x);
}

// sigmoid x = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, e = exp(-|x|) in (0, 1]: no
// overflow, and the subnormal results far left are kept.
template <class S>
inline typename S::F vsigmoid(typename S::F x) {
  const typename S::F e = vexp<S>(S::sub(S::zero(), S::abs(x)));
  const typename S::F r = S::div(S::set1(1.0f), S::add(S::set1(1.0f), e));
  return S::select(S::lt(x, S::zero()), r, S::mul(e, r));
}

// The Gaussian tail for a = |x|: Phi(-a) = erfc(a / sqrt2) / 2, with (optionally) the density
// factor g = exp(-a^2 / 2). erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), with P a degree-9 fit
// of log(erfcx(z) / t) in t, z in [0, 10] (iteratively reweighted least squares on a Chebyshev
// basis toward minimax; |error| < 5e-8 in float64, ~1.7e-7 evaluated in float32 with FMA).
// a^2 is split exactly (a*a = hi + lo, by FMA) and -hi/2 + P(t) is summed with its rounding error
// (TwoSum), so exp of the exponent keeps full relative accuracy in the far tail, where rounding
// a^2 would cost ~a^2/2 ulp. Beyond a = 20 everything is 0 in float; clamping there keeps inf
// inputs from making inf * 0.
template <class S>
struct GaussTail {
  typename S::F a, hi, lo, t, p;
};

template <class S>
inline GaussTail<S> gauss_tail(typename S::F x) {
  using V = typename S::F;
  GaussTail<S> r;
  r.a = S::min(S::set1(20.0f), S::abs(x));
  r.hi = S::mul(r.a, r.a);
  r.lo = S::fmsub(r.a, r.a, r.hi);
  r.t = S::div(S::set1(1.0f), S::fmadd(r.a, S::set1(0.35355339059327373f), S::set1(1.0f)));
  V p = S::set1(0.14221443235874176f);
  p = S::fmadd(p, r.t, S::set1(-0.6661593317985535f));
  p = S::fmadd(p, r.t, S::set1(1.1225948333740234f));
  p = S::fmadd(p, r.t, S::set1(-0.6514626145362854f));
  p = S::fmadd(p, r.t, S::set1(-0.11664708703756332f));
  p = S::fmadd(p, r.t, S::set1(0.020141035318374634f));
  p = S::fmadd(p, r.t, S::set1(0.02836909517645836f));
  p = S::fmadd(p, r.t, S::set1(0.38789862394332886f));
  p = S::fmadd(p, r.t, S::set1(0.9984924793243408f));
  r.p = S::fmadd(p, r.t, S::set1(-1.2654414176940918f));
  return r;
}

// Phi(-|x|), one exp.
template <class S>
inline typename S::F phi_tail(typename S::F x) {
  using V = typename S::F;
  const GaussTail<S> r = gauss_tail<S>(x);
  const V u = S::mul(S::set1(-0.5f), r.hi);
  const V s = S::add(u, r.p);  // TwoSum: s + err == u + p exactly
  const V bv = S::sub(s, u);
  const V err = S::add(S::sub(u, S::sub(s, bv)), S::sub(r.p, bv));
  const V es = vexp<S>(s);
  const V e = S::fmadd(es, S::fnmadd(S::set1(0.5f), r.lo, err), es);  // es * exp(err - lo/2)
  return S::mul(S::mul(S::set1(0.5f), r.t), e);
}

// Phi(-|x|) in q and exp(-x^2 / 2) in g (two exps).
template <class S>
inline void phi_tail(typename S::F x, typename S::F& q, typename S::F& g) {
  using V = typename S::F;
  const GaussTail<S> r = gauss_tail<S>(x);
  const V e = vexp<S>(S::mul(S::set1(-0.5f), r.hi));
  g = S::fnmadd(S::mul(S::set1(0.5f), r.lo), e, e);  // e * exp(-lo/2), |lo/2| < 2^-24 hi
  q = S::mul(S::mul(S::set1(0.5f), r.t), S::mul(g, vexp<S>(r.p)));
}

}  // namespace simd
}  // namespace fastnn
