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

namespace {

// All-ones lanes where bit l of `byte` is set (lane l = element k0 + l).
inline __m256i byte_mask(uint32_t byte) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(byte)), sel), sel);
}

// 8 elements per step: the value added is x with its sign flipped where the weight is -1 (xor
// of the sign bit) and zeroed where it is 0 (and).
struct PlaneStep {
  using F = __m256;
  static constexpr int kStep = 8;
  static F zero() { return _mm256_setzero_ps(); }
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  template <int R>
  static void step(F* acc, const float* x, int64_t K, int64_t left, uint64_t nbits,
                   uint64_t pbits, bool binary) {
    const uint32_t nb = static_cast<uint32_t>(nbits) & 0xffu;
    const __m256i flip = _mm256_and_si256(byte_mask(nb), _mm256_set1_epi32(int(0x80000000u)));
    // binary: every element below K counts
    __m256i keep = binary ? _mm256_set1_epi32(-1)
                          : byte_mask((static_cast<uint32_t>(pbits) & 0xffu) | nb);
    const bool tail = left < 8;
    if (tail)
      keep = _mm256_and_si256(keep, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)),
                                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    const __m256 keepf = _mm256_castsi256_ps(keep), flipf = _mm256_castsi256_ps(flip);
    for (int r = 0; r < R; ++r) {
      const __m256 v = tail ? _mm256_maskload_ps(x + r * K, keep) : _mm256_loadu_ps(x + r * K);
      acc[r] = _mm256_add_ps(acc[r], _mm256_xor_ps(_mm256_and_ps(v, keepf), flipf));
    }
  }
};

}  // namespace

#include "../simd/binary_rows_body.h"

}  // namespace avx2
}  // namespace binary
}  // namespace fastnn
