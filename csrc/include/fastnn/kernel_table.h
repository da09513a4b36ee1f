// The kernel table: one set of leaf-kernel function pointers per ISA, built once (dispatch.cpp).
// Tile sizes live here, next to the kernels that depend on them, never in the drivers.
#pragma once
#include <cstdint>

#include "fastnn/params.h"

namespace fastnn {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// ---- f32 GEMM micro-kernel ---------------------------------------------------------------------
// Contract (see docs/kernels.md):
//   a: packed A panel, k steps of mr floats (column p holds A[0..mr)[p]), 64-byte aligned.
//   b: packed B panel, k steps of nr floats (row p holds B[p][0..nr)), 64-byte aligned.
//   c: row-major tile with row stride ldc; only the top-left m x n (m <= mr, n <= nr) is touched.
//   acc = sum over p < k of a[p*mr + i] * b[p*nr + j]
//   C[0:m,0:n] = alpha * acc            if accumulate == 0 (C is never read: it may hold NaN)
//   C[0:m,0:n] = C + alpha * acc        if accumulate != 0
//   k >= 1.
using f32_gemm_ukr_fn = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                 int64_t m, int64_t n, float alpha, int accumulate);

// Epilogue on a finished row-major tile (hot in L1): c = act(c + bias[col]).
// bias may be null. Applied once per output tile after the last K block.
using f32_epilogue_fn = void (*)(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                                 const Epilogue& ep);

// Elementwise activation over a contiguous array: y = act(x) (in place allowed).
using f32_act_fn = void (*)(const float* x, float* y, int64_t n, const Epilogue& ep);

// ---- [layers: elementwise, losses, dropout] function-pointer types ----

// ---- [layers: conv, pool, batchnorm] function-pointer types ----

// ---- [optim] function-pointer types ----
// Structs in fastnn/optim_params.h. Each update kernel handles n contiguous elements of one
// parameter (any n >= 0, no alignment): reads param, grad, mask and state once, writes param and
// state once (formulas in optim_params.h).
struct OptimSpan;
struct SgdCoef;
struct AdagradCoef;
struct RmspropCoef;
struct AdamCoef;
using f32_sgd_update_fn = void (*)(const SgdCoef& c, const OptimSpan& s, int64_t n);
using f32_adagrad_update_fn = void (*)(const AdagradCoef& c, const OptimSpan& s, int64_t n);
using f32_rmsprop_update_fn = void (*)(const RmspropCoef& c, const OptimSpan& s, int64_t n);
using f32_adam_update_fn = void (*)(const AdamCoef& c, const OptimSpan& s, int64_t n);
// Reductions over n contiguous floats (clipping, max-norm). Partial sums are kept in float lanes
// over blocks of at most 1024 elements and combined in double, in a fixed order.
using f32_sum_sq_fn = double (*)(const float* x, int64_t n);          // sum x^2
using f32_sum_abs_fn = double (*)(const float* x, int64_t n);         // sum |x|
using f32_max_abs_fn = float (*)(const float* x, int64_t n);          // max |x|, NaN if any NaN
using f32_sum_abs_pow_fn = double (*)(const float* x, int64_t n, double p);  // sum |x|^p
// In place: x *= s; x = min(max(x, lo), hi).
using f32_scale_fn = void (*)(float* x, int64_t n, float s);
using f32_clamp_fn = void (*)(float* x, int64_t n, float lo, float hi);

// ---- [int8 GEMM] function-pointer types ----

// ---- [sparse / prune] function-pointer types ----

struct KernelTable {
  Isa isa = Isa::generic;

  // ---- [f32 GEMM] ----
  int f32_mr = 0, f32_nr = 0;
  f32_gemm_ukr_fn f32_gemm_ukr = nullptr;
  f32_epilogue_fn f32_epilogue = nullptr;
  f32_act_fn f32_act = nullptr;

  // ---- [layers: elementwise, losses, dropout] ----

  // ---- [layers: conv, pool, batchnorm] ----

  // ---- [optim] ----
  f32_sgd_update_fn f32_sgd_update = nullptr;
  f32_adagrad_update_fn f32_adagrad_update = nullptr;
  f32_rmsprop_update_fn f32_rmsprop_update = nullptr;
  f32_adam_update_fn f32_adam_update = nullptr;
  f32_sum_sq_fn f32_sum_sq = nullptr;
  f32_sum_abs_fn f32_sum_abs = nullptr;
  f32_max_abs_fn f32_max_abs = nullptr;
  f32_sum_abs_pow_fn f32_sum_abs_pow = nullptr;
  f32_scale_fn f32_scale = nullptr;
  f32_clamp_fn f32_clamp = nullptr;

  // ---- [int8 GEMM] ----

  // ---- [sparse / prune] ----
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

}  // namespace fastnn
