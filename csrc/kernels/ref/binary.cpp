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

}  // namespace ref
}  // namespace binary
}  // namespace fastnn
