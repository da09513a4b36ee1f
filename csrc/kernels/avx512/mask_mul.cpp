// [sparse / prune] AVX-512 pruning-mask application: 16 lanes, one body for the main loop and
// the tail (masked load/store on the last, partial vector). Contract: kernel_table.h,
// f32_mask_mul_fn.
#include <immintrin.h>

#include <algorithm>  // (vec_avx512.h)
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/mask_mul_body.h"

void f32_mask_mul_16(float* x, const float* mask, int64_t n) { mask_mul(x, mask, n); }

}  // namespace avx512
}  // namespace fastnn
