// AVX-512 bf16 GEMM micro-kernel on VDPBF16PS, 14x32 tile (28 zmm accumulators, 2 zmm of B pair
// words and 14 broadcast A pair words per k pair: 32 multiply-adds per instruction, twice the f32
// FMA's 16). Built with -mavx512bf16 (setup.py FILE_FLAGS) where the compiler knows it
// (FASTNN_BUILT_BF16); registered only when bf16_native_usable(). Contract: kernel_table.h.
#include "fastnn/kernel_table.h"
#include "gemm_bf16_tile.h"

namespace fastnn {
namespace avx512 {

void bf16_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                         int64_t m, int64_t n, float alpha, int accumulate) {
  bf16_gemm_ukr_tile<14, 2, true>(k, a, b, c, ldc, m, n, alpha, accumulate);
}

}  // namespace avx512
}  // namespace fastnn
