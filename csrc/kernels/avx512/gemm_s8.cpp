// AVX-512 VNNI u8 x s8 -> s32 GEMM micro-kernel, 14x32 register tile: 28 zmm accumulators, the two
// zmm of a packed B group (32 columns x 4 k) in registers, A broadcast 4 bytes at a time; one
// vpdpbusd sums 4 exact u8*s8 products into each int32 lane. Tiles with fewer rows run the same
// template at their height (no wasted rows); columns past n are masked at the store only.
// Built with -mavx512vnni (setup.py FILE_FLAGS); registered only when s8_vnni_usable().
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's avx512fintrin.h fills "undefined" vectors with `__m512 __Y = __Y;`, which
// -Wmaybe-uninitialized reports once inlined (max_ps, cvtepi32_ps, ...): a header false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

constexpr int kMR = 14;

namespace {

// acc += dot4(a (u8), b (s8)) per int32 lane. GCC 12 compiles _mm512_dpbusd_epi32 on an array
// of accumulators into a register copy (and spills) per instruction, halving throughput; the
// asm statement ties the accumulator to its register. Same instruction, same result.
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, a, b);
#endif
}

inline __m512i broadcast_group(const uint8_t* p) {
  int32_t x;
  std::memcpy(&x, p, sizeof x);
  return _mm512_set1_epi32(x);
}

// The epilogue of kernel_table.h on one 16-column vector of row accumulators.
inline void store16(__m512i acc, const S8Epilogue& ep, int h, void* c, __mmask16 mask) {
  const __m512i v = _mm512_add_epi32(acc, _mm512_loadu_si512(ep.offset + 16 * h));
  if (ep.out == S8Out::s32) {
    _mm512_mask_storeu_epi32(static_cast<int32_t*>(c) + 16 * h, mask, v);
    return;
  }
  __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_loadu_ps(ep.scale + 16 * h),
                             _mm512_loadu_ps(ep.shift + 16 * h));
  if (ep.out == S8Out::f32) {
    // max_ps returns its second operand for NaN and for +-0 pairs: matches (y > 0 ? y : +0).
    if (ep.relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(static_cast<float*>(c) + 16 * h, mask, y);
  } else {
    y = _mm512_max_ps(y, _mm512_set1_ps(ep.lo));
    y = _mm512_min_ps(y, _mm512_set1_ps(ep.hi));
    const __m512i q = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_cvtepi32_storeu_epi8(static_cast<uint8_t*>(c) + 16 * h, mask, q);
  }
}

template <int MR>
void tile(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b, void* c,
          int64_t ldc, int64_t n, const S8Epilogue& ep) {
  __m512i vacc[MR][2];
  for (int i = 0; i < MR; ++i) vacc[i][0] = vacc[i][1] = _mm512_setzero_si512();
  for (int64_t g = 0; g < kg; ++g) {
    const __m512i vb0 = _mm512_loadu_si512(b);
    const __m512i vb1 = _mm512_loadu_si512(b + 64);
    b += kS8NR * kS8KG;
    for (int i = 0; i < MR; ++i) {
      const __m512i va = broadcast_group(a + i * a_rs);
      vacc[i][0] = dpbusd(vacc[i][0], va, vb0);
      vacc[i][1] = dpbusd(vacc[i][1], va, vb1);
    }
    a += a_gs;
  }
  const __mmask16 mask0 = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
  const __mmask16 mask1 = n >= 32 ? __mmask16(0xffff)
                                  : (n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1u));
  const int64_t esize = ep.out == S8Out::u8 ? 1 : 4;
  for (int i = 0; i < MR; ++i) {
    void* ci = static_cast<char*>(c) + i * ldc * esize;
    store16(vacc[i][0], ep, 0, ci, mask0);
    store16(vacc[i][1], ep, 1, ci, mask1);
  }
}

}  // namespace

void u8s8_gemm_ukr_14x32_vnni(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs,
                              const int8_t* b, void* c, int64_t ldc, int64_t m, int64_t n,
                              const S8Epilogue& ep) {
  switch (m) {
    case 14: return tile<14>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 13: return tile<13>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 12: return tile<12>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 11: return tile<11>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 10: return tile<10>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 9: return tile<9>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 8: return tile<8>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 7: return tile<7>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 6: return tile<6>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 5: return tile<5>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 4: return tile<4>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 3: return tile<3>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 2: return tile<2>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 1: return tile<1>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    default: return;  // the driver never passes m outside [1, kMR]
  }
}

}  // namespace avx512
}  // namespace fastnn
