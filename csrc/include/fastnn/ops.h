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

// ---- [optim] ----
// Fused optimizer steps (frame/optim.cpp). A descriptor table (one OptimParam per parameter, in
// the optimizer's order) is built once by the binding; every step is one threaded pass over the
// flat index space of all active parameters. Formulas: fastnn/optim_params.h.
enum class OptimKind : int { sgd = 0, adagrad = 1, rmsprop = 2, adam = 3 };

struct OptimParam {
  float* param = nullptr;
  float* grad = nullptr;         // null only when inactive
  const float* mask = nullptr;   // 0/1 pruning mask or null
  int64_t numel = 0;
  int64_t offset = 0;            // of this parameter in the flat state buffers
  int64_t row_len = 0;           // max-norm unit (numel / shape[0]) for ndim >= 2, else 0
  int group = 0;
  bool active = false;           // requires_grad and has a grad: frozen parameters are skipped
};

// Hyper-parameters of one param group, as torch names them (beta1/beta2 = betas); max_norm 0 = off.
struct OptimGroup {
  double lr = 0, weight_decay = 0, l1 = 0, max_norm = 0, momentum = 0, dampening = 0, alpha = 0,
         beta1 = 0, beta2 = 0, eps = 0, lr_decay = 0;
  bool nesterov = false, centered = false, amsgrad = false, decoupled = false;
};

// Flat state buffers of `total` floats (meaning per kind: OptimSpan in optim_params.h; null where
// unused) and one step counter per parameter (torch keeps a step per parameter).
struct OptimState {
  float* s0 = nullptr;
  float* s1 = nullptr;
  float* s2 = nullptr;
  int64_t total = 0;
  int64_t* steps = nullptr;
};

// Throws std::invalid_argument naming the option (e.g. "betas[0]") when a value is out of range.
void check_optim_group(OptimKind kind, const OptimGroup& g, int group_index);
// Checks every group and that the state buffers the options need exist, then (and only then)
// increments the steps of the active parameters and updates them in place.
void optim_step(OptimKind kind, const std::vector<OptimParam>& params,
                const std::vector<OptimGroup>& groups, const OptimState& state);
// Zero every gradient in the table (frozen ones included), threaded.
void optim_zero_grad(const std::vector<OptimParam>& params);

// Gradient clipping over many arrays. Partial reductions run over fixed blocks in parallel and are
// combined in block order in double: the result does not depend on the thread count.
struct GradSpan {
  float* data = nullptr;
  int64_t n = 0;
};
// Total norm of all gradients (norm_type > 0 or +inf); if max_norm / (norm + 1e-6) < 1 every
// gradient is scaled by it. Returns the norm before clipping. error_if_nonfinite: throw
// std::runtime_error (and change nothing) when the norm is NaN or infinite.
double clip_grad_norm(const std::vector<GradSpan>& grads, double max_norm, double norm_type,
                      bool error_if_nonfinite);
double grad_norm(const std::vector<GradSpan>& grads, double norm_type);
// Clamp every gradient element to [-clip_value, clip_value].
void clip_grad_value(const std::vector<GradSpan>& grads, double clip_value);

// ---- [int8 GEMM] ----

// ---- [sparse / prune] ----

}  // namespace fastnn
