// [sparse / prune] Portable pruning-mask application (the reference of the vector paths).
// Contract: kernel_table.h, f32_mask_mul_fn.
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_mask_mul(float* x, const float* mask, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= mask[i];
}

}  // namespace ref
}  // namespace fastnn
