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
void f32_spmm_csr_8x32(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                       const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                       int64_t ldy, const Epilogue& ep);
void f32_spmv_csr_fma8(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                       const float* x, const float* bias, float* y, const Epilogue& ep);
void f32_transpose_8x8(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                       int64_t ldd);

void register_kernels(KernelTable& t) {
  t.f32_mr = 6;
  t.f32_nr = 16;
  t.f32_gemm_ukr = f32_gemm_ukr_6x16;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]

  // [sparse / prune]
  t.spmm_nb = 32;
  t.spmv_max_batch = 1;
  t.f32_spmm = f32_spmm_csr_8x32;
  t.f32_spmv = f32_spmv_csr_fma8;
  t.f32_transpose = f32_transpose_8x8;

}

}  // namespace avx2
}  // namespace fastnn
