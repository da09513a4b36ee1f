// Portable popcount path of the binary kernels (see fastnn/binary.h).
#include "fastnn/binary.h"

namespace fastnn {
namespace binary {
namespace ref {

void xor_popcount(const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t W,
                  int32_t* out) {
  for (int64_t m = 0; m < M; ++m) {
    const uint64_t* am = a + m * W;
    for (int64_t n = 0; n < N; ++n) {
      const uint64_t* bn = b + n * W;
      int64_t s = 0;
      for (int64_t w = 0; w < W; ++w) s += __builtin_popcountll(am[w] ^ bn[w]);
      out[m * N + n] = static_cast<int32_t>(s);
    }
  }
}

// The definition, one weight at a time: add where +1, subtract where -1.
void plane_sums(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M, int64_t n0,
                int64_t n1, int64_t K, float* out, int64_t ldo) {
  const int64_t W = (K + 63) / 64;
  for (int64_t m = 0; m < M; ++m) {
    const float* xm = x + m * K;
    for (int64_t n = n0; n < n1; ++n) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const uint64_t bit = uint64_t{1} << (k % 64);
        const bool is_neg = (neg[n * W + k / 64] & bit) != 0;
        const bool is_pos = pos ? (pos[n * W + k / 64] & bit) != 0 : !is_neg;
        if (is_pos) s += xm[k];
        if (is_neg) s -= xm[k];
      }
      out[m * ldo + n] = s;
    }
  }
}

}  // namespace ref
}  // namespace binary
}  // namespace fastnn
