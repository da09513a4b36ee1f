#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                      int64_t n, float alpha, int accumulate);
void f32_pack_panels(const float* src, int64_t s_i, int64_t s_p, int64_t count, int64_t kc, int w,
                    float* dst);
void f32_epilogue(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                  const Epilogue& ep);
void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]

// [optim]

// [int8 GEMM]

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 8;
  t.f32_nr = 8;
  t.f32_gemm_ukr = f32_gemm_ukr_8x8;
  t.f32_gemm_narrow = F32GemmTile{};  // none
  t.f32_pack_panels = f32_pack_panels;
  t.f32_kc = 256;
  t.f32_mc = 128;
  t.f32_nc = 4096;
  t.f32_epilogue = f32_epilogue;
  t.f32_act = f32_act;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]

  // [optim]

  // [int8 GEMM]

  // [sparse / prune]

}

}  // namespace ref
}  // namespace fastnn
