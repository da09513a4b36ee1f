// Vector traits for the AVX-512 instantiation of the bodies in this folder: 16 float lanes,
// __mmask16 masks. Include inside namespace fastnn::avx512 after <immintrin.h> and <cstdint>.
// Masked-off lanes are never read or written (AVX-512 masked memory operations do not fault).
// Masks (M) are __mmask16 bits: tail masks and compare results alike. Compares are ordered (false
// when either side is NaN).
// GCC 12's own intrinsic headers trip -Wuninitialized (`__m256d __Y = __Y;` in
// _mm256_undefined_pd, inlined into casts and integer max); silence it for the rest of this TU.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma once
#include "transpose8_body.h"
#include "transpose16_body.h"

struct Vec {
  static constexpr int kWidth = 16;
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;

  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static I set1i(int64_t v) { return _mm512_set1_epi32(static_cast<int32_t>(v)); }
  static I iota() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  static I addi(I a, I b) { return _mm512_add_epi32(a, b); }
  static I muli(I a, int64_t s) { return _mm512_mullo_epi32(a, set1i(s)); }
  static I maxi(I a, I b) { return _mm512_max_epi32(a, b); }
  static I subi(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I xori(I a, I b) { return _mm512_xor_si512(a, b); }
  template <int N> static I slli(I a) { return _mm512_slli_epi32(a, N); }
  template <int N> static I srli(I a) { return _mm512_srli_epi32(a, N); }
  template <int N> static I srai(I a) { return _mm512_srai_epi32(a, N); }
  static M gti(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }  // signed
  static F as_float(I a) { return _mm512_castsi512_ps(a); }
  static I as_int(F a) { return _mm512_castps_si512(a); }  // the bits as they are
  static I andi(I a, I b) { return _mm512_and_si512(a, b); }
  static I ori(I a, I b) { return _mm512_or_si512(a, b); }           // the bits as they are

  // The first n lanes (n is clamped to [0, kWidth]): the tail mask of masked loads and stores.
  static M first(int64_t n) {
    return M((uint32_t(1) << (n >= kWidth ? kWidth : n <= 0 ? 0 : n)) - 1u);
  }
  static M all() { return M(0xffff); }
  static M mand(M a, M b) { return M(a & b); }
  // Lanes of `lanes` whose column index lies in [0, w).
  static M in_range(I cols, int64_t w, M lanes) {
    const M lt = _mm512_mask_cmplt_epi32_mask(lanes, cols, set1i(w));
    return _mm512_mask_cmpge_epi32_mask(lt, cols, _mm512_setzero_si512());
  }

  static F load(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  // Lanes not in m are `fill`.
  static F load_or(M m, const float* p, F fill) { return _mm512_mask_loadu_ps(fill, m, p); }
  static F loadu(const float* p) { return _mm512_loadu_ps(p); }   // all lanes
  static void storeu(float* p, F v) { _mm512_storeu_ps(p, v); }
  // out[j] lane l = p[l][off + j], j < 8: 8 floats read from each lane's row (two 8x8
  // transposes, lanes 0-7 and 8-15).
  static void load_rows8(const float* const* p, int64_t off, F out[8]) {
    __m256 lo[8], hi[8];
    for (int l = 0; l < 8; ++l) {
      lo[l] = _mm256_loadu_ps(p[l] + off);
      hi[l] = _mm256_loadu_ps(p[8 + l] + off);
    }
    transpose_8x8(lo);
    transpose_8x8(hi);
    for (int j = 0; j < 8; ++j) out[j] = _mm512_insertf32x8(_mm512_castps256_ps512(lo[j]), hi[j], 1);
  }
  // The inverse: p[l][off + j] = v[j] lane l, for j < count (count = 2 or 4).
  static void store_rows(const F* v, int count, float* const* p, int64_t off) {
    __m256 lo[8], hi[8];
    for (int j = 0; j < 8; ++j) {
      lo[j] = j < count ? _mm512_castps512_ps256(v[j]) : _mm256_setzero_ps();
      hi[j] = j < count ? _mm512_extractf32x8_ps(v[j], 1) : _mm256_setzero_ps();
    }
    transpose_8x8(lo);
    transpose_8x8(hi);
    for (int l = 0; l < 8; ++l) {
      store_head(lo[l], count, p[l] + off);
      store_head(hi[l], count, p[8 + l] + off);
    }
  }
  static void store_head(__m256 r, int count, float* dst) {  // the first 2 or 4 floats of r
    if (count == 4)
      _mm_storeu_ps(dst, _mm256_castps256_ps128(r));
    else
      _mm_storel_pi(reinterpret_cast<__m64*>(dst), _mm256_castps256_ps128(r));
  }
  static void store(M m, float* p, F v) { _mm512_mask_storeu_ps(p, m, v); }
  static void storei(M m, int32_t* p, I v) { _mm512_mask_storeu_epi32(p, m, v); }

  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b
  static F fmsub(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }    // a * b - c
  static F max(F a, F b) { return _mm512_max_ps(a, b); }  // b where either is NaN
  static F min(F a, F b) { return _mm512_min_ps(a, b); }  // b where either is NaN
  static F sqrt(F a) { return _mm512_sqrt_ps(a); }
  static F round(F a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static I cvti(F a) { return _mm512_cvtps_epi32(a); }  // rounds to nearest even
  // The 64 int32 lanes of a, b, c, d saturated to uint8, in order (vpack* work per 128-bit lane;
  // the dword permute restores the order).
  static I pack_u8(I a, I b, I c, I d) {
    const I bytes = _mm512_packus_epi16(_mm512_packus_epi32(a, b), _mm512_packus_epi32(c, d));
    const I order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(order, bytes);
  }
  // The first n bytes of `bytes` (all 64 when n >= 64).
  static void store_u8(int64_t n, uint8_t* p, I bytes) {
    const __mmask64 m = n >= 64 ? ~__mmask64(0) : n <= 0 ? 0 : (__mmask64(1) << n) - 1;
    _mm512_mask_storeu_epi8(p, m, bytes);
  }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F copysign(F mag, F sgn) {  // |mag| with the sign bit of sgn
    const I sign = set1i(int32_t(0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_abs_ps(mag)),
                                               _mm512_and_si512(_mm512_castps_si512(sgn), sign)));
  }
  // a 2^k for integral k (any range; exact scaling, one rounding for subnormal results).
  static F ldexp(F a, F k) { return _mm512_scalef_ps(a, k); }
  static F pow2(I k) { return as_float(slli<23>(addi(k, set1i(127)))); }  // 2^k, k in [-126, 127]
  static F sign(F x) {  // -1, 0 or +1 (0 for +-0 and NaN)
    const F one = _mm512_set1_ps(1.0f);
    const M pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    const M neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_sub_ps(_mm512_maskz_mov_ps(pos, one), _mm512_maskz_mov_ps(neg, one));
  }
  // acc with lanes set to 1 where x is NaN; any_set(acc): some lane was.
  static F nan_flags(F acc, F x) {
    return _mm512_mask_mov_ps(acc, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_set1_ps(1.0f));
  }
  static bool any_set(F acc) {
    return _mm512_cmp_ps_mask(acc, _mm512_setzero_ps(), _CMP_NEQ_OQ) != 0;
  }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  // r[i] holds row i of a kWidth x kWidth block; on return r[j] holds column j.
  static void transpose(F r[kWidth]) { transpose_16x16(r); }
  // Lanes not in m are zero.
  static F sub_z(M m, F a, F b) { return _mm512_maskz_sub_ps(m, a, b); }
  // v > best, or v is NaN (PyTorch's max-pool update rule).
  static M gt_or_nan(M m, F v, F best) {
    return M(_mm512_mask_cmp_ps_mask(m, v, best, _CMP_GT_OQ) |
             _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q));
  }
  static F select(M m, F if_false, F if_true) { return _mm512_mask_blend_ps(m, if_false, if_true); }
  // The 2*kWidth values a, b as their even and odd elements (a0 a2 .. b0 b2 .., a1 a3 .. b1 ..).
  static void interleave(F even, F odd, F& lo, F& hi) {  // lo = e0 o0 e1 o1 .., hi = e8 o8 ..
    const I il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    lo = _mm512_permutex2var_ps(even, il, odd);
    hi = _mm512_permutex2var_ps(even, _mm512_add_epi32(il, _mm512_set1_epi32(8)), odd);
  }
  static void deinterleave(F a, F b, F& even, F& odd) {
    const I ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(ie, _mm512_set1_epi32(1)), b);
  }
  static I selecti(M m, I if_false, I if_true) { return _mm512_mask_blend_epi32(m, if_false, if_true); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }
  // Lanes widened to double, then summed in a fixed order. Through memory: GCC 12's
  // widening/extract intrinsics warn spuriously, and the optimizer runs this once per 1024 floats.
  static double hsum_d(F v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    double s = 0.0;
    for (float x : t) s += static_cast<double>(x);
    return s;
  }
  static float hmax(F v) { return _mm512_reduce_max_ps(v); }

  // Lane l gets row[col0 + l*s] where m is set (m must imply 0 <= col < w), else 0;
  // cols = col0 + iota*s.
  static F load_cols(const float* row, int64_t col0, int64_t s, int64_t w, I cols, M m) {
    if (s == 1) return _mm512_maskz_loadu_ps(m, row + col0);
    if (s == 2) {
      // Two contiguous loads of the 32 elements row[col0 .. col0+32), keep the even ones.
      const int64_t lo = std::max<int64_t>(0, -col0), hi = std::min<int64_t>(32, w - col0);
      const uint64_t bits = hi > lo ? ((uint64_t(1) << hi) - 1) & ~((uint64_t(1) << lo) - 1) : 0;
      const F v0 = _mm512_maskz_loadu_ps(M(bits & 0xffff), row + col0);
      const F v1 = _mm512_maskz_loadu_ps(M(bits >> 16), row + col0 + 16);
      const I even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      return _mm512_maskz_mov_ps(m, _mm512_permutex2var_ps(v0, even, v1));
    }
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, cols, row, 4);
  }
  // row[col0 + l*s] += v[l] where m is set (distinct addresses per lane since s >= 1).
  static void add_cols(float* row, int64_t col0, int64_t s, I cols, M m, F v) {
    if (s == 1) {
      float* p = row + col0;
      _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), v));
      return;
    }
    const F old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, cols, row, 4);
    _mm512_mask_i32scatter_ps(row, m, cols, _mm512_add_ps(old, v), 4);
  }
};
