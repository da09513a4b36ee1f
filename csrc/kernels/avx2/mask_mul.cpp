// [sparse / prune] AVX2 pruning-mask application: 8 lanes, one body for the main loop and the
// tail (maskload/maskstore on the last, partial vector). Contract: kernel_table.h, f32_mask_mul_fn.
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"
#include "lanes.h"

namespace fastnn {
namespace avx2 {

void f32_mask_mul_8(float* x, const float* mask, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i lanes = first_lanes(n - i);
    const __m256 vx = _mm256_maskload_ps(x + i, lanes);
    const __m256 vmask = _mm256_maskload_ps(mask + i, lanes);
    _mm256_maskstore_ps(x + i, lanes, _mm256_mul_ps(vx, vmask));
  }
}

}  // namespace avx2
}  // namespace fastnn
