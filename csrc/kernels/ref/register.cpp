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

// [sparse / prune]
void f32_spmm_csr(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                  const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                  int64_t ldy, const Epilogue& ep);
void f32_spmv_csr(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                  const float* x, const float* bias, float* y, const Epilogue& ep);
void f32_transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                   int64_t ldd);

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

  // [sparse / prune]
  t.spmm_nb = 64;  // long inner loops the compiler vectorises (3x faster than 8)
  t.spmv_max_batch = 1;
  t.f32_spmm = f32_spmm_csr;
  t.f32_spmv = f32_spmv_csr;
  t.f32_transpose = f32_transpose;

}

}  // namespace ref
}  // namespace fastnn
