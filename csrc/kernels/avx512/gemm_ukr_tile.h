// AVX-512 f32 GEMM micro-kernel body for an MR x (16*NV) register tile, shared by the tile
// instances (gemm_ukr.cpp: 14x32 and 28x16). Contract: kernel_table.h / docs/kernels.md.
//
// Per k step: NV aligned zmm loads of B, then for each of the MR rows one broadcast of A feeding NV
// FMAs (with NV == 1 the compiler folds the broadcast into the FMA as an embedded {1to16} operand).
// MR*NV accumulators stay in registers (at most 28 of the 32 zmm). Edge tiles (m < MR, n < NR)
// run the same loop and differ only in the masked stores. The rows of C the tile will touch are
// prefetched on entry so their misses overlap the k loop instead of stalling the stores.
#pragma once
#include <immintrin.h>

#include <algorithm>  // (vec_avx512.h)
#include <cstdint>

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

// C[0:m, 0:n] = alpha * acc (+ C when accumulate): the masked store every AVX-512 tile kernel
// ends with (f32 here, bf16 in gemm_bf16_tile.h).
template <int MR, int NV>
inline void store_tile(const __m512 (&vacc)[MR][NV], float* __restrict c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate) {
  const __m512 valpha = _mm512_set1_ps(alpha);
  __mmask16 mask[NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) mask[j] = Vec::first(n - 16 * j);
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      __m512 v = _mm512_mul_ps(vacc[i][j], valpha);
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[j], ci + 16 * j));
      _mm512_mask_storeu_ps(ci + 16 * j, mask[j], v);
    }
  }
}

template <int MR, int NV>
inline void f32_gemm_ukr_tile(int64_t k, const float* __restrict a, const float* __restrict b,
                              float* __restrict c, int64_t ldc, int64_t m, int64_t n, float alpha,
                              int accumulate) {
  constexpr int NR = 16 * NV;
  static_assert(MR * NV + NV + 1 <= 32, "accumulators, B vectors and one broadcast must fit");

  for (int64_t i = 0; i < m; ++i) {
    const char* row = reinterpret_cast<const char*>(c + i * ldc);
    _mm_prefetch(row, _MM_HINT_T0);
    if (NV > 1) _mm_prefetch(row + 64, _MM_HINT_T0);
    _mm_prefetch(row + 4 * (n - 1), _MM_HINT_T0);  // the last line (C rows need not be aligned)
  }

  __m512 vacc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) vacc[i][j] = _mm512_setzero_ps();

  for (int64_t p = 0; p < k; ++p) {
    __m512 vb[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) vb[j] = _mm512_load_ps(b + 16 * j);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const __m512 va = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) vacc[i][j] = _mm512_fmadd_ps(va, vb[j], vacc[i][j]);
    }
    a += MR;
    b += NR;
  }

  store_tile<MR, NV>(vacc, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
