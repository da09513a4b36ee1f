// AVX-512 VPOPCNTDQ path of the binary kernels: vpopcntq on 8 words at a time, masked tail.
// Compiled with the target attribute (setup.py's avx512 flags lack -mavx512vpopcntdq); only
// called when the CPU reports VPOPCNTDQ (binary::vpopcntdq_supported). plane_sums:
// ../simd/binary_rows_body.h.
// GCC 12's AVX-512 reductions build on _mm512_undefined_*(), which trips a false
// -W(maybe-)uninitialized once inlined (GCC PR 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
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

// 16 elements per step: masked adds (+1) and subtracts (-1).
struct PlaneStep {
  using F = __m512;
  static constexpr int kStep = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }
  template <int R>
  static void step(F* acc, const float* x, int64_t K, int64_t left, uint64_t nbits,
                   uint64_t pbits, bool binary) {
    const __mmask16 inside =
        left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    const __mmask16 kn = static_cast<__mmask16>(nbits);
    const __mmask16 kp = binary ? static_cast<__mmask16>(~kn & inside)
                                : static_cast<__mmask16>(pbits);
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_maskz_loadu_ps(inside, x + r * K);
      acc[r] = _mm512_mask_add_ps(acc[r], kp, acc[r], v);
      acc[r] = _mm512_mask_sub_ps(acc[r], kn, acc[r], v);
    }
  }
};

}  // namespace

#include "../simd/binary_rows_body.h"

}  // namespace avx512
}  // namespace binary
}  // namespace fastnn
