// AVX-512 lane primitives for the shared vector-math and elementwise bodies
// (csrc/kernels/simd/*.h). Every body is a template over this struct, so the formulas are written
// once and the avx2 and avx512 leaves cannot drift apart. Lives in fastnn::avx512: code built with
// AVX-512 flags never leaks into callers on older CPUs.
//
// Conventions shared with avx2/vmath.h:
//   V: 16 floats; I: 16 int32; P: per-lane predicate (from compares); T: tail mask (loads/stores).
//   max(a, b) / min(a, b) follow x86: when either is NaN the second operand is returned, so
//   clamping as min(hi, max(lo, x)) keeps a NaN x.
//   Masked loads never touch memory in masked-off lanes (no faults past the end of an array).
#pragma once
// GCC 12's AVX-512 headers build unmasked intrinsics on _mm512_undefined_ps(), which trips a false
// -W(maybe-)uninitialized once inlined (GCC PR 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx512 {

struct Simd {
  using V = __m512;
  using I = __m512i;
  using P = __mmask16;
  using T = __mmask16;
  static constexpr int64_t kWidth = 16;

  // -- tails, loads, stores ----------------------------------------------------------------------
  static T all() { return T(0xFFFF); }
  static T tail(int64_t n) { return n >= kWidth ? all() : n <= 0 ? T(0) : T((1u << n) - 1u); }
  static V load(const float* p, T m) { return _mm512_maskz_loadu_ps(m, p); }
  static V load_or(const float* p, T m, V fill) { return _mm512_mask_loadu_ps(fill, m, p); }
  static void store(float* p, T m, V v) { _mm512_mask_storeu_ps(p, m, v); }

  // -- float arithmetic --------------------------------------------------------------------------
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a * b + c
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b
  static V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }    // a * b - c
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  // |mag| with the sign bit of sgn.
  static V copysign(V mag, V sgn) {
    const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_abs_ps(mag)),
                                               _mm512_and_si512(_mm512_castps_si512(sgn), sign)));
  }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  // -- predicates (ordered compares: false when either side is NaN) --------------------------------
  static P gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static P lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static P le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static V select(P p, V a, V b) { return _mm512_mask_blend_ps(p, b, a); }  // p ? a : b
  static P pred(T m) { return m; }  // the lanes a tail mask keeps

  // -- reductions --------------------------------------------------------------------------------
  static float hsum(V a) { return _mm512_reduce_add_ps(a); }
  static float hmax(V a) { return _mm512_reduce_max_ps(a); }

  // -- int32 lanes (exponent scaling, counter hashes) ----------------------------------------------
  static I to_int(V a) { return _mm512_cvtps_epi32(a); }  // a is integral here
  static V to_float(I a) { return _mm512_cvtepi32_ps(a); }
  // 2^k for k in [-126, 127].
  static V pow2(I k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23));
  }
  // a 2^k for integral k (any range; exact scaling, one rounding for subnormal results).
  static V ldexp(V a, V k) { return _mm512_scalef_ps(a, k); }
  static I iset1(uint32_t a) { return _mm512_set1_epi32(int32_t(a)); }
  static I iota() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
  static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I ixor(I a, I b) { return _mm512_xor_si512(a, b); }
  static I imul(I a, I b) { return _mm512_mullo_epi32(a, b); }
  template <int N> static I srl(I a) { return _mm512_srli_epi32(a, N); }
  template <int N> static I sra(I a) { return _mm512_srai_epi32(a, N); }
  static P igt(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }  // signed
};

}  // namespace avx512
}  // namespace fastnn
