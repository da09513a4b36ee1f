#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                      int64_t n, float alpha, int accumulate);
void f32_epilogue(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                  const Epilogue& ep);
void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]

// [optim]

// [int8 GEMM]
void u8s8_gemm_ukr_4x32(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                        void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep);

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 8;
  t.f32_nr = 8;
  t.f32_gemm_ukr = f32_gemm_ukr_8x8;
  t.f32_epilogue = f32_epilogue;
  t.f32_act = f32_act;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]
  t.s8_mr = 4;
  t.s8_gemm_ukr = u8s8_gemm_ukr_4x32;
  t.s8_gemm_name = "generic u8s8 4x32";

  // [sparse / prune]

}

}  // namespace ref
}  // namespace fastnn
