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

// sgemm through packers without the panel-width argument, so the driver runs the main tile only:
// the compatibility path for such packers (see gemm_driver.h), kept here for the tests.
void sgemm_main_tile(const GemmArgs& args);

// ---- [layers: elementwise, losses, dropout] ----

// ---- [layers: conv, pool, batchnorm] ----

// ---- [optim] ----

// ---- [int8 GEMM] ----

// ---- [sparse / prune] ----

}  // namespace fastnn
