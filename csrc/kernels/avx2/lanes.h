// Lane masks for the avx2 folder (inline in namespace fastnn::avx2, built with its flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastnn {
namespace avx2 {

// Lanes [0, n) set (n clamped to [0, 8]), as the sign bits maskload/maskstore read.
inline __m256i first_lanes(int64_t n) {
  const int k = n < 0 ? 0 : (n > 8 ? 8 : static_cast<int>(n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace avx2
}  // namespace fastnn
