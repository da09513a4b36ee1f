// [optim] AVX-512 optimizer updates and reductions: 16 float lanes, __mmask16 tails. The formulas
// are in ../optim_body.h (one body for every ISA); this file only says what a vector is.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

// GCC 12 flags _mm512_undefined_ps() inside _mm512_sqrt_ps and friends as maybe-uninitialized
// (a known false positive of its intrinsic headers).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fastnn {
namespace avx512 {

struct Vec {
  using F = __m512;
  using M = __mmask16;
  static constexpr int64_t W = 16;
  static M full_mask() { return static_cast<M>(0xffff); }
  static M tail_mask(int64_t r) { return static_cast<M>((1u << r) - 1u); }
  template <bool Tail>
  static F load(const float* p, M k) {
    if constexpr (Tail) return _mm512_maskz_loadu_ps(k, p);
    else return _mm512_loadu_ps(p);
  }
  template <bool Tail>
  static void store(float* p, F v, M k) {
    if constexpr (Tail) _mm512_mask_storeu_ps(p, k, v);
    else _mm512_storeu_ps(p, v);
  }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F zero() { return _mm512_setzero_ps(); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F sqrt(F a) { return _mm512_sqrt_ps(a); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F sign(F x) {
    const F one = _mm512_set1_ps(1.0f);
    const M pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    const M neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_sub_ps(_mm512_maskz_mov_ps(pos, one), _mm512_maskz_mov_ps(neg, one));
  }
  // Through memory: GCC 12's widening/extract intrinsics warn spuriously (-Wmaybe-uninitialized),
  // and this runs once per 1024 elements.
  static double hsum(F v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    double s = 0.0;
    for (float x : t) s += static_cast<double>(x);
    return s;
  }
  static float hmax(F v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    float m = t[0];
    for (float x : t) m = x > m ? x : m;
    return m;
  }
  static F nan_flags(F acc, F x) {
    return _mm512_mask_mov_ps(acc, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_set1_ps(1.0f));
  }
  static bool any_set(F acc) {
    return _mm512_cmp_ps_mask(acc, _mm512_setzero_ps(), _CMP_NEQ_OQ) != 0;
  }
};

#include "../optim_body.h"

}  // namespace avx512
}  // namespace fastnn
