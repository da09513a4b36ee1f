// [sparse / prune] AVX2 pruning-mask application: 8 lanes, one body for the main loop and the
// tail (maskload/maskstore on the last, partial vector). Contract: kernel_table.h, f32_mask_mul_fn.
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/mask_mul_body.h"

void f32_mask_mul_8(float* x, const float* mask, int64_t n) { mask_mul(x, mask, n); }

}  // namespace avx2
}  // namespace fastnn
