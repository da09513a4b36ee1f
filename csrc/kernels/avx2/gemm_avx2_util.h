// Small AVX2 helpers shared by the f32 GEMM kernels of this folder.
//
// Partial vectors: AMD cores run vmaskmovps stores slowly (microcoded, several cycles each), so the
// helpers take plain loads/stores for whole vectors and fall back to masks (loads) or 4/2/1-lane
// pieces (stores) only for the tail lanes; callers keep one loop body for main part and tail.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

// Loads lanes [0, n) of p (n clipped to [0, 8]); the other lanes are zero and p[n..8) is not read.
inline __m256 load8(const float* p, int64_t n) {
  return n >= 8 ? _mm256_loadu_ps(p) : Vec::load(Vec::first(n), p);
}

// Stores lanes [0, n) of v to p (n clipped to [0, 8]); p[n..8) is not touched.
inline void store8(float* p, __m256 v, int64_t n) {
  if (n >= 8) {
    _mm256_storeu_ps(p, v);
    return;
  }
  __m128 part = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(p, part);
    part = _mm256_extractf128_ps(v, 1);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    part = _mm_movehl_ps(part, part);
    p += 2;
    n -= 2;
  }
  if (n >= 1) _mm_store_ss(p, part);
}

}  // namespace avx2
}  // namespace fastnn
