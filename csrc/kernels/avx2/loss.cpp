// avx2 leaves of the cross-entropy kernels: instantiations of csrc/kernels/simd/loss_body.h with
// this ISA's lanes (vmath.h). Contracts: kernel_table.h.
#include "../simd/loss_body.h"
#include "fastnn/kernel_table.h"
#include "vmath.h"

namespace fastnn {
namespace avx2 {

void f32_xent_forward(const float* x, int64_t rows, int64_t cols, const int64_t* target,
                      const float* w, float eps, float* lse, float* loss) {
  simd::xent_forward<Simd>(x, rows, cols, target, w, eps, lse, loss);
}
void f32_xent_backward(const float* x, const float* lse, int64_t rows, int64_t cols,
                       const int64_t* target, const float* w, float w_sum, float eps, float scale,
                       const float* row_scale, float* dx) {
  simd::xent_backward<Simd>(x, lse, rows, cols, target, w, w_sum, eps, scale, row_scale, dx);
}

}  // namespace avx2
}  // namespace fastnn
