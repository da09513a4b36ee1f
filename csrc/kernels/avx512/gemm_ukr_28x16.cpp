// AVX-512 f32 GEMM micro-kernel, 28x16 register tile: 28 zmm accumulators, 1 zmm of B per k step,
// A as embedded-broadcast FMA operands. The narrow tile: for n <= 16 (e.g. a 10-class output
// layer) it fills 16-lane vectors where the 14x32 tile would leave most of 32 lanes idle.
#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"

namespace fastnn {
namespace avx512 {

void f32_gemm_ukr_28x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate) {
  f32_gemm_ukr_tile<28, 1>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
