#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

void f32_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]

// [optim]

// [int8 GEMM]
void u8s8_gemm_ukr_14x32_vnni(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                              void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep);

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 14;
  t.f32_nr = 32;
  t.f32_gemm_ukr = f32_gemm_ukr_14x32;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]
  // VNNI is not implied by AVX-512F/BW: without it the AVX2 int8 kernel registered before stays.
  if (s8_vnni_usable()) {
    t.s8_mr = 14;
    t.s8_gemm_ukr = u8s8_gemm_ukr_14x32_vnni;
    t.s8_gemm_name = "avx512_vnni u8s8 14x32";
  }

  // [sparse / prune]

}

}  // namespace avx512
}  // namespace fastnn
