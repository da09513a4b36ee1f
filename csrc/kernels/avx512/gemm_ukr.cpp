// AVX-512 f32 GEMM micro-kernels, the two register tiles of gemm_ukr_tile.h (contract:
// kernel_table.h / docs/kernels.md):
//   14x32, the main tile: 28 zmm accumulators, 2 zmm of B and 14 broadcasts of A per k step
//     (28 FMAs per 16 loads keeps both FMA pipes busy).
//   28x16, the narrow tile: 28 zmm accumulators, 1 zmm of B per k step, A as embedded-broadcast
//     FMA operands. For n <= 16 (e.g. a 10-class output layer) it fills 16-lane vectors where the
//     14x32 tile would leave most of 32 lanes idle.
#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"

namespace fastnn {
namespace avx512 {

void f32_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate) {
  f32_gemm_ukr_tile<14, 2>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

void f32_gemm_ukr_28x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate) {
  f32_gemm_ukr_tile<28, 1>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn

// The bf16 emulation for AVX-512 CPUs without avx512_bf16 (gemm_bf16_tile.h): 12x32, as each k
// pair needs two B vectors and two broadcasts more than the f32 tile.
#include "gemm_bf16_tile.h"

namespace fastnn {
namespace avx512 {

void bf16_gemm_ukr_12x32_emu(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                             int64_t m, int64_t n, float alpha, int accumulate) {
  bf16_gemm_ukr_tile<12, 2, false>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
