// AVX-512 f32 GEMM micro-kernel, 14x32 register tile: 28 zmm accumulators, 2 zmm of B and 14
// broadcasts of A per k step (the main tile: 28 FMAs per 16 loads keeps both FMA pipes busy).
#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"

namespace fastnn {
namespace avx512 {

void f32_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate) {
  f32_gemm_ukr_tile<14, 2>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
