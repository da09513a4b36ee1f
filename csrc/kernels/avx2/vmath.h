// AVX2 + FMA lane primitives for the shared vector-math and elementwise bodies
// (csrc/kernels/simd/*.h); the same interface as avx512/vmath.h (see its conventions), 8 lanes.
// Predicates are all-ones/all-zeros float lanes; tail masks are int lanes for maskload/maskstore.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx2 {

struct Simd {
  using V = __m256;
  using I = __m256i;
  using P = __m256;
  using T = __m256i;
  static constexpr int64_t kWidth = 8;

  // -- tails, loads, stores ----------------------------------------------------------------------
  static T all() { return _mm256_set1_epi32(-1); }
  static T tail(int64_t n) {
    const int32_t k = n >= kWidth ? int32_t(kWidth) : n <= 0 ? 0 : int32_t(n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p, T m) { return _mm256_maskload_ps(p, m); }
  static V load_or(const float* p, T m, V fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store(float* p, T m, V v) { _mm256_maskstore_ps(p, m, v); }

  // -- float arithmetic --------------------------------------------------------------------------
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a * b + c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b
  static V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }    // a * b - c
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V copysign(V mag, V sgn) {
    const V sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
  }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  // -- predicates (ordered compares: false when either side is NaN) --------------------------------
  static P gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static P lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static P le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static V select(P p, V a, V b) { return _mm256_blendv_ps(b, a, p); }  // p ? a : b
  static P pred(T m) { return _mm256_castsi256_ps(m); }  // the lanes a tail mask keeps

  // -- reductions --------------------------------------------------------------------------------
  static float hsum(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // -- int32 lanes (exponent scaling, counter hashes) ----------------------------------------------
  static I to_int(V a) { return _mm256_cvtps_epi32(a); }  // a is integral here
  static V to_float(I a) { return _mm256_cvtepi32_ps(a); }
  // 2^k for k in [-126, 127].
  static V pow2(I k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
  }
  // a 2^k for integral k in [-252, 254]: two normal power-of-two factors, so the product rounds
  // once into the subnormal range or overflows where it should.
  static V ldexp(V a, V k) {
    const I ki = to_int(k);
    const I k1 = _mm256_srai_epi32(ki, 1);
    return mul(mul(a, pow2(k1)), pow2(_mm256_sub_epi32(ki, k1)));
  }
  static I iset1(uint32_t a) { return _mm256_set1_epi32(int32_t(a)); }
  static I iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I ixor(I a, I b) { return _mm256_xor_si256(a, b); }
  static I imul(I a, I b) { return _mm256_mullo_epi32(a, b); }
  template <int N> static I srl(I a) { return _mm256_srli_epi32(a, N); }
  template <int N> static I sra(I a) { return _mm256_srai_epi32(a, N); }
  static P igt(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b)); }  // signed
};

}  // namespace avx2
}  // namespace fastnn
