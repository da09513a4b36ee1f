// [optim] AVX2+FMA optimizer updates and reductions: 8 float lanes, maskload/maskstore tails. The
// formulas are in ../optim_body.h (one body for every ISA); this file only says what a vector is.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace avx2 {

struct Vec {
  using F = __m256;
  using M = __m256i;
  static constexpr int64_t W = 8;
  static M full_mask() { return _mm256_set1_epi32(-1); }
  static M tail_mask(int64_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  template <bool Tail>
  static F load(const float* p, M k) {
    if constexpr (Tail) return _mm256_maskload_ps(p, k);
    else return _mm256_loadu_ps(p);
  }
  template <bool Tail>
  static void store(float* p, F v, M k) {
    if constexpr (Tail) _mm256_maskstore_ps(p, k, v);
    else _mm256_storeu_ps(p, v);
  }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F zero() { return _mm256_setzero_ps(); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F sqrt(F a) { return _mm256_sqrt_ps(a); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static F sign(F x) {
    const F one = _mm256_set1_ps(1.0f), z = _mm256_setzero_ps();
    return _mm256_sub_ps(_mm256_and_ps(_mm256_cmp_ps(x, z, _CMP_GT_OQ), one),
                         _mm256_and_ps(_mm256_cmp_ps(x, z, _CMP_LT_OQ), one));
  }
  static double hsum(F v) {
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    const __m256d s = _mm256_add_pd(lo, hi);
    const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
  }
  static float hmax(F v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static F nan_flags(F acc, F x) { return _mm256_or_ps(acc, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }
  static bool any_set(F acc) { return _mm256_movemask_ps(acc) != 0; }
};

#include "../optim_body.h"

}  // namespace avx2
}  // namespace fastnn
