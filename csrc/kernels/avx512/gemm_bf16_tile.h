// AVX-512 bf16 GEMM micro-kernel body for an MR x (16*NV) register tile (contract: kernel_table.h
// "[bf16 GEMM]"). NATIVE: one VDPBF16PS per accumulator and k pair (built with -mavx512bf16,
// gemm_bf16.cpp). Otherwise the emulation for AVX-512 CPUs without avx512_bf16 (gemm_ukr.cpp):
// each pair word is split into its two halves as floats (exact) and accumulated by two FMAs in
// VDPBF16PS's order (hi, then lo), so both give the same bits on normal numbers.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "gemm_ukr_tile.h"  // store_tile, Vec

namespace fastnn {
namespace avx512 {

template <int MR, int NV, bool NATIVE>
inline void bf16_gemm_ukr_tile(int64_t k, const float* __restrict a, const float* __restrict b,
                               float* __restrict c, int64_t ldc, int64_t m, int64_t n, float alpha,
                               int accumulate) {
  constexpr int NR = 16 * NV;
  for (int64_t i = 0; i < m; ++i) {
    const char* row = reinterpret_cast<const char*>(c + i * ldc);
    _mm_prefetch(row, _MM_HINT_T0);
    _mm_prefetch(row + 4 * (n - 1), _MM_HINT_T0);
  }
  __m512 vacc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) vacc[i][j] = _mm512_setzero_ps();

  const int64_t steps = (k + 1) / 2;
  for (int64_t q = 0; q < steps; ++q) {
    if constexpr (NATIVE) {
#if defined(__AVX512BF16__)
      __m512bh vb[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) vb[j] = (__m512bh)_mm512_load_ps(b + 16 * j);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const __m512bh va = (__m512bh)_mm512_set1_ps(a[i]);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) vacc[i][j] = _mm512_dpbf16_ps(vacc[i][j], va, vb[j]);
      }
#endif
    } else {
      const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
      __m512 bh[NV], bl[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        const __m512i w = _mm512_load_si512(b + 16 * j);
        bh[j] = _mm512_castsi512_ps(_mm512_and_si512(w, hi_mask));
        bl[j] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
      }
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const __m512i w = _mm512_set1_epi32(reinterpret_cast<const int32_t*>(a)[i]);
        const __m512 ah = _mm512_castsi512_ps(_mm512_and_si512(w, hi_mask));
        const __m512 al = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
          vacc[i][j] = _mm512_fmadd_ps(ah, bh[j], vacc[i][j]);
          vacc[i][j] = _mm512_fmadd_ps(al, bl[j], vacc[i][j]);
        }
      }
    }
    a += MR;
    b += NR;
  }

  store_tile<MR, NV>(vacc, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
