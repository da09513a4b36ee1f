#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

void f32_gemm_ukr_6x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]

// [optim]

// [int8 GEMM]
void u8s8_gemm_ukr_2x32(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                        void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep);

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 6;
  t.f32_nr = 16;
  t.f32_gemm_ukr = f32_gemm_ukr_6x16;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]
  t.s8_mr = 2;
  t.s8_gemm_ukr = u8s8_gemm_ukr_2x32;
  t.s8_gemm_name = "avx2 u8s8 2x32 (int16 vpmaddwd)";

  // [sparse / prune]

}

}  // namespace avx2
}  // namespace fastnn
