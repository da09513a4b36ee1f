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
// Leaves working on one contiguous H x W plane (pool, depthwise conv, vectorised across the
// output width) or one contiguous row (batch norm). Geometry: conv_params.h. Bodies: one template
// per operation in kernels/simd/*_body.h, instantiated with each ISA's vector traits.
struct Conv2dGeom;
struct Pool2dGeom;
// Max pooling: y[oy][ox] = max over the window (NaN wins, first maximum kept), argmax[oy][ox] =
// its flat index iy*w + ix in the plane (PyTorch's semantics).
using f32_maxpool2d_plane_fn = void (*)(const float* x, float* y, int32_t* argmax,
                                        const Pool2dGeom& g);
// Average pooling: y = (sum over the window, padding counted as 0) / (kh*kw).
using f32_avgpool2d_plane_fn = void (*)(const float* x, float* y, const Pool2dGeom& g);
// Its adjoint: dx[window] += dy / (kh*kw). dx must be initialised by the caller.
using f32_avgpool2d_plane_bwd_fn = void (*)(const float* dy, float* dx, const Pool2dGeom& g);
// Depthwise conv, one (input plane, filter) pair: y = bias + sum_{ki,kj} w[ki*kw+kj] * x(window).
using f32_dwconv2d_plane_fn = void (*)(const float* x, const float* w, float bias, float* y,
                                       const Conv2dGeom& g);
// Adjoints: dx += (w correlated back with dy); dw[kh*kw] += sum over pixels dy * x(window).
using f32_dwconv2d_plane_bwd_data_fn = void (*)(const float* dy, const float* w, float* dx,
                                                const Conv2dGeom& g);
using f32_dwconv2d_plane_bwd_weight_fn = void (*)(const float* x, const float* dy, float* dw,
                                                  const Conv2dGeom& g);
// Row kernels (batch norm, global pooling). Reductions return float partial sums of one row;
// callers add rows in double.
//   moments:  *sum = sum(x - shift), *sumsq = sum((x - shift)^2)
//   affine:   y = a*x + b                    (in place allowed)
//   dot2:     *sdy = sum(dy), *sdyx = sum(dy * (x - shift))
//   affine2:  dx = a*dy + b*x + c            (dx may alias dy)
using f32_row_moments_fn = void (*)(const float* x, int64_t n, float shift, float* sum,
                                    float* sumsq);
using f32_row_affine_fn = void (*)(const float* x, float* y, int64_t n, float a, float b);
using f32_row_dot2_fn = void (*)(const float* dy, const float* x, int64_t n, float shift,
                                 float* sdy, float* sdyx);
using f32_row_affine2_fn = void (*)(const float* dy, const float* x, float* dx, int64_t n,
                                    float a, float b, float c);

// ---- [optim] function-pointer types ----

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
  f32_maxpool2d_plane_fn f32_maxpool2d_plane = nullptr;
  f32_avgpool2d_plane_fn f32_avgpool2d_plane = nullptr;
  f32_avgpool2d_plane_bwd_fn f32_avgpool2d_plane_bwd = nullptr;
  f32_dwconv2d_plane_fn f32_dwconv2d_plane = nullptr;
  f32_dwconv2d_plane_bwd_data_fn f32_dwconv2d_plane_bwd_data = nullptr;
  f32_dwconv2d_plane_bwd_weight_fn f32_dwconv2d_plane_bwd_weight = nullptr;
  f32_row_moments_fn f32_row_moments = nullptr;
  f32_row_affine_fn f32_row_affine = nullptr;
  f32_row_dot2_fn f32_row_dot2 = nullptr;
  f32_row_affine2_fn f32_row_affine2 = nullptr;

  // ---- [optim] ----

  // ---- [int8 GEMM] ----

  // ---- [sparse / prune] ----
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

}  // namespace fastnn
