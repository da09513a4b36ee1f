// AVX2 path of the binary kernels: nibble-lookup (vpshufb) popcount, bytes summed with vpsadbw.
// One row of a against four rows of b at a time (the a vector is loaded once for four pairs).
#include <immintrin.h>

#include "fastnn/binary.h"

namespace fastnn {
namespace binary {
namespace avx2 {

namespace {

inline __m256i popcnt_bytes(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

inline int64_t hsum64(__m256i v) {
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

inline int64_t tail(const uint64_t* a, const uint64_t* b, int64_t w0, int64_t W) {
  int64_t s = 0;
  for (int64_t w = w0; w < W; ++w) s += __builtin_popcountll(a[w] ^ b[w]);
  return s;
}

}  // namespace

void xor_popcount(const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t W,
                  int32_t* out) {
  const int64_t Wv = W / 4 * 4;
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t m = 0; m < M; ++m) {
    const uint64_t* am = a + m * W;
    int64_t n = 0;
    for (; n + 4 <= N; n += 4) {
      const uint64_t* b0 = b + n * W;
      __m256i acc[4] = {zero, zero, zero, zero};
      int64_t w = 0;
      // byte counts stay <= 8 per lane per step; flush through vpsadbw every 15 steps (<= 120 < 256)
      while (w < Wv) {
        __m256i part[4] = {zero, zero, zero, zero};
        const int64_t stop = Wv < w + 60 ? Wv : w + 60;
        for (; w < stop; w += 4) {
          const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(am + w));
          for (int j = 0; j < 4; ++j) {
            const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + j * W + w));
            part[j] = _mm256_add_epi8(part[j], popcnt_bytes(_mm256_xor_si256(va, vb)));
          }
        }
        for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_epi64(acc[j], _mm256_sad_epu8(part[j], zero));
      }
      for (int j = 0; j < 4; ++j)
        out[m * N + n + j] = static_cast<int32_t>(hsum64(acc[j]) + tail(am, b0 + j * W, Wv, W));
    }
    for (; n < N; ++n) {
      const uint64_t* bn = b + n * W;
      __m256i acc = zero;
      for (int64_t w = 0; w < Wv; w += 4) {
        const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(am + w)),
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bn + w)));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_bytes(x), zero));
      }
      out[m * N + n] = static_cast<int32_t>(hsum64(acc) + tail(am, bn, Wv, W));
    }
  }
}

}  // namespace avx2
}  // namespace binary
}  // namespace fastnn
