// AVX-512 VPOPCNTDQ path of the binary kernels: vpopcntq on 8 words at a time, masked tail.
// Compiled with the target attribute (setup.py's avx512 flags lack -mavx512vpopcntdq); only
// called when the CPU reports VPOPCNTDQ (binary::vpopcntdq_supported).
#include <immintrin.h>

#include "fastnn/binary.h"

namespace fastnn {
namespace binary {
namespace avx512 {

__attribute__((target("avx512f,avx512vpopcntdq"))) void xor_popcount(
    const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t W, int32_t* out) {
  const int64_t Wv = W / 8 * 8;
  const __mmask8 tail = static_cast<__mmask8>((1u << (W - Wv)) - 1u);
  for (int64_t m = 0; m < M; ++m) {
    const uint64_t* am = a + m * W;
    for (int64_t n = 0; n < N; ++n) {
      const uint64_t* bn = b + n * W;
      __m512i acc = _mm512_setzero_si512();
      for (int64_t w = 0; w < Wv; w += 8)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                                        _mm512_loadu_si512(am + w), _mm512_loadu_si512(bn + w))));
      if (tail) {
        const __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi64(tail, am + Wv),
                                           _mm512_maskz_loadu_epi64(tail, bn + Wv));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
      }
      out[m * N + n] = static_cast<int32_t>(_mm512_reduce_add_epi64(acc));
    }
  }
}

namespace {

// R rows of x against plane row n, 16 elements per step: masked adds (+1) and subtracts (-1).
template <int R>
__attribute__((target("avx512f"))) void rows_block(const float* x, const uint64_t* pos,
                                                   const uint64_t* neg, int64_t n0, int64_t n1,
                                                   int64_t K, float* out, int64_t ldo) {
  const int64_t W = (K + 63) / 64;
  for (int64_t n = n0; n < n1; ++n) {
    const uint64_t* nw = neg + n * W;
    const uint64_t* pw = pos ? pos + n * W : nullptr;
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
      const int sh = static_cast<int>(k % 64);
      const __mmask16 inside =
          K - k >= 16 ? static_cast<__mmask16>(0xffff)
                      : static_cast<__mmask16>((1u << (K - k)) - 1u);
      const __mmask16 kn = static_cast<__mmask16>(nw[k / 64] >> sh);
      const __mmask16 kp = pw ? static_cast<__mmask16>(pw[k / 64] >> sh)
                              : static_cast<__mmask16>(~kn & inside);
      for (int r = 0; r < R; ++r) {
        const __m512 v = _mm512_maskz_loadu_ps(inside, x + r * K + k);
        acc[r] = _mm512_mask_add_ps(acc[r], kp, acc[r], v);
        acc[r] = _mm512_mask_sub_ps(acc[r], kn, acc[r], v);
      }
    }
    for (int r = 0; r < R; ++r) out[r * ldo + n] = _mm512_reduce_add_ps(acc[r]);
  }
}

}  // namespace

__attribute__((target("avx512f"))) void plane_sums(const float* x, const uint64_t* pos,
                                                   const uint64_t* neg, int64_t M, int64_t n0,
                                                   int64_t n1, int64_t K, float* out,
                                                   int64_t ldo) {
  int64_t m = 0;
  for (; m + 8 <= M; m += 8) rows_block<8>(x + m * K, pos, neg, n0, n1, K, out + m * ldo, ldo);
  for (; m < M; ++m) rows_block<1>(x + m * K, pos, neg, n0, n1, K, out + m * ldo, ldo);
}

}  // namespace avx512
}  // namespace binary
}  // namespace fastnn
