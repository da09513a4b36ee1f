// Vector traits for the AVX2 instantiation of the bodies in this folder: 8 float lanes, masks as
// all-ones integer lanes. Include inside namespace fastnn::avx2 after <immintrin.h>, <cstdint>.
// Masked-off lanes are never read or written (vmaskmov / masked gathers do not fault on them).
// Masks (M) are all-ones/all-zeros int32 lanes: the tail masks of maskload/maskstore and the
// results of compares alike, so bodies never see how a mask is held. Compares are ordered (false
// when either side is NaN).
#pragma once
#include "transpose8_body.h"

struct Vec {
  static constexpr int kWidth = 8;
  using F = __m256;
  using I = __m256i;
  using M = __m256i;

  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static I set1i(int64_t v) { return _mm256_set1_epi32(static_cast<int32_t>(v)); }
  static I iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static I addi(I a, I b) { return _mm256_add_epi32(a, b); }
  static I muli(I a, int64_t s) { return _mm256_mullo_epi32(a, set1i(s)); }
  static I maxi(I a, I b) { return _mm256_max_epi32(a, b); }
  static I subi(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I xori(I a, I b) { return _mm256_xor_si256(a, b); }
  template <int N> static I slli(I a) { return _mm256_slli_epi32(a, N); }
  template <int N> static I srli(I a) { return _mm256_srli_epi32(a, N); }
  template <int N> static I srai(I a) { return _mm256_srai_epi32(a, N); }
  static M gti(I a, I b) { return _mm256_cmpgt_epi32(a, b); }  // signed
  static F as_float(I a) { return _mm256_castsi256_ps(a); }
  static I as_int(F a) { return _mm256_castps_si256(a); }  // the bits as they are
  static I andi(I a, I b) { return _mm256_and_si256(a, b); }
  static I ori(I a, I b) { return _mm256_or_si256(a, b); }      // the bits as they are

  static M first(int64_t n) { return _mm256_cmpgt_epi32(set1i(n >= kWidth ? kWidth : n), iota()); }
  static M all() { return _mm256_set1_epi32(-1); }
  static M mand(M a, M b) { return _mm256_and_si256(a, b); }
  static M in_range(I cols, int64_t w, M lanes) {
    const M ok = _mm256_and_si256(_mm256_cmpgt_epi32(set1i(w), cols),
                                  _mm256_cmpgt_epi32(cols, set1i(-1)));
    return _mm256_and_si256(ok, lanes);
  }

  static F load(M m, const float* p) { return _mm256_maskload_ps(p, m); }
  // Lanes not in m are `fill`.
  static F load_or(M m, const float* p, F fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static F loadu(const float* p) { return _mm256_loadu_ps(p); }   // all lanes
  static void storeu(float* p, F v) { _mm256_storeu_ps(p, v); }
  // out[j] lane l = p[l][off + j], j < 8: 8 floats read from each lane's row.
  static void load_rows8(const float* const* p, int64_t off, F out[8]) {
    for (int l = 0; l < 8; ++l) out[l] = _mm256_loadu_ps(p[l] + off);
    transpose_8x8(out);
  }
  // The inverse: p[l][off + j] = v[j] lane l, for j < count (count = 2 or 4).
  static void store_rows(const F* v, int count, float* const* p, int64_t off) {
    __m256 r[8];
    for (int j = 0; j < 8; ++j) r[j] = j < count ? v[j] : _mm256_setzero_ps();
    transpose_8x8(r);
    for (int l = 0; l < 8; ++l) store_head(r[l], count, p[l] + off);
  }
  static void store_head(__m256 r, int count, float* dst) {  // the first 2 or 4 floats of r
    if (count == 4)
      _mm_storeu_ps(dst, _mm256_castps256_ps128(r));
    else
      _mm_storel_pi(reinterpret_cast<__m64*>(dst), _mm256_castps256_ps128(r));
  }
  static void store(M m, float* p, F v) { _mm256_maskstore_ps(p, m, v); }
  static void storei(M m, int32_t* p, I v) { _mm256_maskstore_epi32(reinterpret_cast<int*>(p), m, v); }

  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b
  static F fmsub(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }    // a * b - c
  static F max(F a, F b) { return _mm256_max_ps(a, b); }  // b where either is NaN
  static F min(F a, F b) { return _mm256_min_ps(a, b); }  // b where either is NaN
  static F sqrt(F a) { return _mm256_sqrt_ps(a); }
  static F round(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static I cvti(F a) { return _mm256_cvtps_epi32(a); }  // rounds to nearest even
  // The 32 int32 lanes of a, b, c, d saturated to uint8, in order (vpack* work per 128-bit lane;
  // the dword permute restores the order).
  static I pack_u8(I a, I b, I c, I d) {
    const I bytes = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  }
  // The first n bytes of `bytes` (all 32 when n >= 32); no byte masks: a tail goes through a
  // stack buffer.
  static void store_u8(int64_t n, uint8_t* p, I bytes) {
    if (n >= 32) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bytes);
      return;
    }
    alignas(32) uint8_t buf[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(buf), bytes);
    if (n > 0) __builtin_memcpy(p, buf, static_cast<size_t>(n));
  }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static F copysign(F mag, F sgn) {  // |mag| with the sign bit of sgn
    const F sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
  }
  // a 2^k for integral k in [-252, 254]: two normal power-of-two factors, so the product rounds
  // once into the subnormal range or overflows where it should.
  static F ldexp(F a, F k) {
    const I ki = cvti(k), k1 = srai<1>(ki);
    return mul(mul(a, pow2(k1)), pow2(subi(ki, k1)));
  }
  static F pow2(I k) { return as_float(slli<23>(addi(k, set1i(127)))); }  // 2^k, k in [-126, 127]
  static F sign(F x) {  // -1, 0 or +1 (0 for +-0 and NaN)
    const F one = _mm256_set1_ps(1.0f), z = _mm256_setzero_ps();
    return _mm256_sub_ps(_mm256_and_ps(_mm256_cmp_ps(x, z, _CMP_GT_OQ), one),
                         _mm256_and_ps(_mm256_cmp_ps(x, z, _CMP_LT_OQ), one));
  }
  // acc with lanes set where x is NaN; any_set(acc): some lane was.
  static F nan_flags(F acc, F x) { return _mm256_or_ps(acc, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }
  static bool any_set(F acc) { return _mm256_movemask_ps(acc) != 0; }
  static M gt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
  static M lt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static M le(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LE_OQ)); }
  // r[i] holds row i of a kWidth x kWidth block; on return r[j] holds column j.
  static void transpose(F r[kWidth]) { transpose_8x8(r); }
  static F sub_z(M m, F a, F b) { return _mm256_and_ps(_mm256_sub_ps(a, b), _mm256_castsi256_ps(m)); }
  static M gt_or_nan(M m, F v, F best) {
    const F c = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_and_si256(_mm256_castps_si256(c), m);
  }
  static F select(M m, F if_false, F if_true) {
    return _mm256_blendv_ps(if_false, if_true, _mm256_castsi256_ps(m));
  }
  // The 2*kWidth values a, b as their even and odd elements (a0 a2 .. b0 b2 .., a1 a3 .. b1 ..).
  static void interleave(F even, F odd, F& lo, F& hi) {  // lo = e0 o0 e1 o1 .., hi = e4 o4 ..
    const F a = _mm256_unpacklo_ps(even, odd), b = _mm256_unpackhi_ps(even, odd);
    lo = _mm256_permute2f128_ps(a, b, 0x20);
    hi = _mm256_permute2f128_ps(a, b, 0x31);
  }
  static void deinterleave(F a, F b, F& even, F& odd) {
    // Within each 128-bit half: (a0 a2 b0 b2 | a4 a6 b4 b6); then the 64-bit quarters reordered.
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static I selecti(M m, I if_false, I if_true) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(if_false),
                                                 _mm256_castsi256_ps(if_true),
                                                 _mm256_castsi256_ps(m)));
  }
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Lanes widened to double, then summed in a fixed order.
  static double hsum_d(F v) {
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

  static F load_cols(const float* row, int64_t col0, int64_t s, int64_t, I cols, M m) {
    if (s == 1) return _mm256_maskload_ps(row + col0, m);
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, cols, _mm256_castsi256_ps(m), 4);
  }
  static void add_cols(float* row, int64_t col0, int64_t s, I cols, M m, F v) {
    if (s == 1) {
      float* p = row + col0;
      _mm256_maskstore_ps(p, m, _mm256_add_ps(_mm256_maskload_ps(p, m), v));
      return;
    }
    // No scatter in AVX2: lanes one by one (distinct addresses).
    alignas(32) int32_t idx[8], on[8];
    alignas(32) float val[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx), cols);
    _mm256_store_si256(reinterpret_cast<__m256i*>(on), m);
    _mm256_store_ps(val, v);
    for (int l = 0; l < 8; ++l)
      if (on[l]) row[idx[l]] += val[l];
  }
};
