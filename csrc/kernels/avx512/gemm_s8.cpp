// AVX-512 VNNI u8 x s8 -> s32 GEMM micro-kernel, 14x32 register tile: 28 zmm accumulators, the two
// zmm of a packed B group (32 columns x 4 k) in registers, A broadcast 4 bytes at a time; one
// vpdpbusd sums 4 exact u8*s8 products into each int32 lane. Tiles with fewer rows run the same
// template at their height (no wasted rows), panels with n <= 16 at one vector width; columns
// past n are masked at the store only.
// Built with -mavx512vnni (setup.py FILE_FLAGS); registered only when s8_vnni_usable().
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's avx512fintrin.h fills "undefined" vectors with `__m512 __Y = __Y;`, which
// -Wmaybe-uninitialized reports once inlined (max_ps, cvtepi32_ps, ...): a header false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "fastnn/kernel_table.h"
#include "s8_epilogue.h"

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

// One k group (4 values of k) for MR rows x NV vectors of 16 columns.
template <int MR, int NV>
inline void group(__m512i (&vacc)[MR][NV], const uint8_t* a, int64_t a_rs, const int8_t* b) {
  __m512i vb[NV];
  for (int v = 0; v < NV; ++v) vb[v] = _mm512_loadu_si512(b + 64 * v);
  for (int i = 0; i < MR; ++i) {
    const __m512i va = broadcast_group(a + i * a_rs);
    for (int v = 0; v < NV; ++v) vacc[i][v] = dpbusd(vacc[i][v], va, vb[v]);
  }
}

// MR rows x 16*NV columns. Small tiles (MR * NV < 8 chains) would wait on vpdpbusd latency, so
// they keep U independent accumulator sets over consecutive k groups and add them at the end.
template <int MR, int NV>
void tile(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b, void* c,
          int64_t ldc, int64_t n, const S8Epilogue& ep) {
  constexpr int U = MR * NV >= 8 ? 1 : (MR * NV >= 4 ? 2 : 4);
  constexpr int64_t kGroupBytes = kS8NR * kS8KG;
  __m512i vacc[U][MR][NV];
  for (int u = 0; u < U; ++u)
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) vacc[u][i][v] = _mm512_setzero_si512();
  int64_t g = 0;
  for (; g + U <= kg; g += U) {
    for (int u = 0; u < U; ++u) group<MR, NV>(vacc[u], a + u * a_gs, a_rs, b + u * kGroupBytes);
    a += U * a_gs;
    b += U * kGroupBytes;
  }
  for (; g < kg; ++g) {  // U > 1 only: the last kg % U groups
    group<MR, NV>(vacc[0], a, a_rs, b);
    a += a_gs;
    b += kGroupBytes;
  }
  for (int u = 1; u < U; ++u)
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) vacc[0][i][v] = _mm512_add_epi32(vacc[0][i][v], vacc[u][i][v]);
  const __mmask16 mask0 = s8_mask_lo(n), mask1 = s8_mask_hi(n);
  const int64_t esize = ep.out == S8Out::u8 ? 1 : 4;
  for (int i = 0; i < MR; ++i) {
    void* ci = static_cast<char*>(c) + i * ldc * esize;
    s8_store16(vacc[0][i][0], ep, 0, ci, mask0);
    if (NV == 2) s8_store16(vacc[0][i][NV - 1], ep, 1, ci, mask1);
  }
}

template <int NV>
void tile_rows(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b, void* c,
               int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep) {
  switch (m) {
    case 14: return tile<14, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 13: return tile<13, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 12: return tile<12, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 11: return tile<11, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 10: return tile<10, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 9: return tile<9, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 8: return tile<8, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 7: return tile<7, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 6: return tile<6, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 5: return tile<5, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 4: return tile<4, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 3: return tile<3, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 2: return tile<2, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 1: return tile<1, NV>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    default: return;  // the driver never passes m outside [1, kMR]
  }
}

}  // namespace

void u8s8_gemm_ukr_14x32_vnni(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs,
                              const int8_t* b, void* c, int64_t ldc, int64_t m, int64_t n,
                              const S8Epilogue& ep) {
  if (n > 16) tile_rows<2>(kg, a, a_rs, a_gs, b, c, ldc, m, n, ep);
  else tile_rows<1>(kg, a, a_rs, a_gs, b, c, ldc, m, n, ep);  // narrow panel: half the work
}

}  // namespace avx512
}  // namespace fastnn
