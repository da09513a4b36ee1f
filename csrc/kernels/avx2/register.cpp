#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

void f32_gemm_ukr_6x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]

// [optim]

// [int8 GEMM]

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 6;
  t.f32_nr = 16;
  t.f32_gemm_ukr = f32_gemm_ukr_6x16;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]

  // [sparse / prune]

}

}  // namespace avx2
}  // namespace fastnn
