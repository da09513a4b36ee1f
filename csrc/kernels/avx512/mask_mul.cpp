// [sparse / prune] AVX-512 pruning-mask application: 16 lanes, one body for the main loop and
// the tail (masked load/store on the last, partial vector). Contract: kernel_table.h,
// f32_mask_mul_fn.
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"
#include "lanes.h"

namespace fastnn {
namespace avx512 {

void f32_mask_mul_16(float* x, const float* mask, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 lanes = first_lanes(n - i);
    const __m512 vx = _mm512_maskz_loadu_ps(lanes, x + i);
    const __m512 vmask = _mm512_maskz_loadu_ps(lanes, mask + i);
    _mm512_mask_storeu_ps(x + i, lanes, _mm512_mul_ps(vx, vmask));
  }
}

}  // namespace avx512
}  // namespace fastnn
