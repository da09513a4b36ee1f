// Every C++ entry point of fastnn, declared once. Drivers (csrc/frame) define them, check their
// arguments (throwing std::invalid_argument with the argument's name, expected and actual shape)
// and call leaf kernels through kernels().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fastnn/kernel_table.h"
#include "fastnn/params.h"

namespace fastnn {

// ---- runtime -------------------------------------------------------------------------------------
struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
  bool avxvnni = false;
  bool os_avx = false, os_avx512 = false;  // XGETBV: the OS saves the registers
};
const CpuFeatures& cpu_features();
bool isa_supported(Isa isa);   // compiled in AND supported by this CPU and OS
bool isa_compiled(Isa isa);
Isa best_isa();
Isa active_isa();
// Switch the active table; throws std::invalid_argument for an unknown or unsupported ISA.
void set_isa(const std::string& name);
// Reads FASTNN_ISA (if set) and builds the table; throws if the requested ISA is not usable.
void init_dispatch();

int get_num_threads();
void set_num_threads(int n);

// ---- f32 GEMM --------------------------------------------------------------------------------------
// C[m x n] = epilogue(alpha * op(A) @ op(B) + beta * C + bias), with op given by the views' strides.
// c is row-major with row stride ldc. bias (length n) may be null. beta is 0 or 1.
struct GemmArgs {
  MatView a;  // m x k
  MatView b;  // k x n
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* bias = nullptr;
  Epilogue ep;
};
void sgemm(const GemmArgs& args);

// The naive triple loop, for tests and as the reference the kernels are checked against.
void sgemm_reference(const GemmArgs& args);

// ---- [layers: elementwise, losses, dropout] ----

// ---- [layers: conv, pool, batchnorm] ----
// Geometry structs: fastnn/conv_params.h. Arrays are dense NCHW float32. Every driver checks its
// geometry first (std::invalid_argument naming the field, expected vs actual).
void conv2d_check_geom(const Conv2dGeom& g);
// y = conv(x, w) + bias (bias of length k, may be null). Stride 1: a direct kernel reading the
// im2col operand in place from a padded copy of the input (1x1 without padding: the input
// itself); other strides: sgemm_driver with im2col packed straight into its B panels; depthwise
// (groups == c): direct per-plane kernels. See csrc/frame/conv2d.cpp.
void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g);
// The adjoints of conv2d_forward; each output may be null (not wanted):
//   dx  = conv_transpose(dy, w) (+ dx_bias[channel] if given)      overwritten  (needs w)
//   dw += correlation of x with dy                                  accumulated  (needs x)
//   db += sum of dy over batch and pixels                           accumulated
// ConvTranspose2d's forward is the dx part with its bias as dx_bias.
void conv2d_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                     float* db, const Conv2dGeom& g, const float* dx_bias = nullptr);
// out[ch] += sum of x[b][ch][:] over b < n (x is (n, c, plane)).
void channel_sum_accumulate(const float* x, int64_t n, int64_t c, int64_t plane, float* out);

void pool2d_check_geom(const Pool2dGeom& g);
// planes = batch * channels; each plane h x w -> oh x ow. argmax: flat index in the input plane.
void maxpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& g, float* y,
                       int32_t* argmax);
// dx (overwritten) = scatter-add of dy at argmax; throws std::out_of_range for a bad index.
void maxpool2d_backward(const float* dy, const int32_t* argmax, int64_t planes,
                        const Pool2dGeom& g, float* dx);
void avgpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& g, float* y);
void avgpool2d_backward(const float* dy, int64_t planes, const Pool2dGeom& g, float* dx);
// y[p] = mean of plane p; dx[p][:] = dy[p] / plane.
void global_avgpool_forward(const float* x, int64_t planes, int64_t plane, float* y);
void global_avgpool_backward(const float* dy, int64_t planes, int64_t plane, float* dx);

// Batch norm over x (n, c, inner): statistics per channel over n * inner values.
// Training: biased variance normalises; running_var is updated with the unbiased one,
// running = (1 - momentum) * running + momentum * batch (running_* may be null: not tracked).
// gamma/beta may be null (affine=False). save_mean/save_invstd (c) feed the backward.
void batchnorm_forward_train(const float* x, int64_t n, int64_t c, int64_t inner,
                             const float* gamma, const float* beta, float eps, float momentum,
                             float* running_mean, float* running_var, float* y, float* save_mean,
                             float* save_invstd);
// Eval: normalise with the running statistics; also writes save_mean/save_invstd from them.
void batchnorm_forward_eval(const float* x, int64_t n, int64_t c, int64_t inner,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, float* y, float* save_mean,
                            float* save_invstd);
// Backward given the statistics used by the forward. training: the statistics depended on x
// (full formula); otherwise dx = dy * gamma * invstd. dx may be null; dgamma/dbeta (may be null)
// are accumulated.
void batchnorm_backward(const float* dy, const float* x, int64_t n, int64_t c, int64_t inner,
                        const float* gamma, const float* mean, const float* invstd, bool training,
                        float* dx, float* dgamma, float* dbeta);

// ---- [optim] ----

// ---- [int8 GEMM] ----

// ---- [sparse / prune] ----

}  // namespace fastnn
