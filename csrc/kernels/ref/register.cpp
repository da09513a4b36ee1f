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
void f32_sgd_update(const SgdCoef& c, const OptimSpan& s, int64_t n);
void f32_adagrad_update(const AdagradCoef& c, const OptimSpan& s, int64_t n);
void f32_rmsprop_update(const RmspropCoef& c, const OptimSpan& s, int64_t n);
void f32_adam_update(const AdamCoef& c, const OptimSpan& s, int64_t n);
double f32_sum_sq(const float* x, int64_t n);
double f32_sum_abs(const float* x, int64_t n);
float f32_max_abs(const float* x, int64_t n);
void f32_scale(float* x, int64_t n, float s);
void f32_clamp(float* x, int64_t n, float lo, float hi);
double f32_sum_abs_pow(const float* x, int64_t n, double p);

// [int8 GEMM]

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
  t.f32_sgd_update = f32_sgd_update;
  t.f32_adagrad_update = f32_adagrad_update;
  t.f32_rmsprop_update = f32_rmsprop_update;
  t.f32_adam_update = f32_adam_update;
  t.f32_sum_sq = f32_sum_sq;
  t.f32_sum_abs = f32_sum_abs;
  t.f32_max_abs = f32_max_abs;
  t.f32_scale = f32_scale;
  t.f32_clamp = f32_clamp;
  t.f32_sum_abs_pow = f32_sum_abs_pow;  // general p: reference only

  // [int8 GEMM]

  // [sparse / prune]

}

}  // namespace ref
}  // namespace fastnn
