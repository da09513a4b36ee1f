// Small AVX2 helpers shared by the f32 GEMM kernels of this folder.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx2 {

// Lanes [0, n) of an 8-lane mask for maskload/maskstore; n is clipped to [0, 8].
inline __m256i lanes8(int64_t n) {
  const int v = n <= 0 ? 0 : (n >= 8 ? 8 : static_cast<int>(n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace avx2
}  // namespace fastnn
