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

}  // namespace avx512
}  // namespace binary
}  // namespace fastnn
