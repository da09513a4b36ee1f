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
// Transpose rows into columns: dst[t*ld + r] = rows[r][t] (+ add[t] when add is not null) for
// r < nrows, t < len, and 0 for nrows <= r < width (nrows <= width <= ld). With width == ld it
// builds GEMM panels from operands whose contraction index is contiguous (conv's weight
// gradient); with width == nrows it writes a transposed tile into a larger matrix (conv output,
// with its bias).
using f32_transpose_rows_fn = void (*)(const float* const* rows, int64_t nrows, int64_t len,
                                       int64_t ld, int64_t width, const float* add, float* dst);
// Direct-convolution micro-kernel ("indirect A"): the A operand is read in place from a padded
// input instead of a packed panel. Row i of step p is a_base[a_off[p] + i*a_step] (i < conv_mr
// output pixels of one row, a_step = the conv's column stride; all conv_mr values are read even
// when m < conv_mr, so the input needs that much slack), b is a packed weight panel (k steps of
// conv_nr floats, 64-byte aligned):
//   acc[i][j] = sum over p < k of a_base[a_off[p] + i*a_step] * b[p*conv_nr + j]
//   c[i*ldc + j] = acc (accumulate == 0; c not read) or c + acc, for i < m, j < n.
using f32_conv_ukr_fn = void (*)(int64_t k, const float* a_base, const int64_t* a_off,
                                 int64_t a_step, const float* b, float* c, int64_t ldc, int64_t m,
                                 int64_t n, int accumulate);
// Weight-gradient micro-kernel of the same tile: the conv_mr rows of A are im2col rows (taps)
// read in place through row pointers (all conv_mr are read; pass a valid row for i >= m), the
// contraction runs over `rows` output rows of row_len pixels, a_stride apart and a_step within a
// row in the taps, back to back in b (a packed panel of dY^T: rows*row_len steps of conv_nr
// floats, 64-byte aligned):
//   acc[i][j] = sum over r < rows, x < row_len of a_rows[i][r*a_stride + x*a_step] *
//               b[(r*row_len + x)*conv_nr + j]
//   c[i*ldc + j] = acc (accumulate == 0; c not read) or c + acc, for i < m, j < n.
using f32_conv_wgrad_ukr_fn = void (*)(const float* const* a_rows, int64_t rows, int64_t row_len,
                                       int64_t a_stride, int64_t a_step, const float* b, float* c,
                                       int64_t ldc, int64_t m, int64_t n, int accumulate);
// Row copy with zero fill: dst[r*dld + t] = src[r*sld + t - lead] where 0 <= t - lead < n_src,
// else 0, for r < rows, t < n_dst (a conv input into the padded-width layout).
using f32_copy_rows_padded_fn = void (*)(const float* src, int64_t sld, int64_t n_src,
                                         int64_t lead, int64_t rows, float* dst, int64_t dld,
                                         int64_t n_dst);
// col2im of a stride-1 conv, one input row: dx_row[x] = sum over (ki, kj) of
// dcol[(ki*kw + kj)*ld + oy*wp + ox] with (oy, ox) = (y + ph - ki*dh, x + pw - kj*dw) inside
// oh x ow; dcol points at the channel's first im2col row (padded-width pixels, row period wp).
using f32_col2im_row_fn = void (*)(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g,
                                   int64_t y, float* dx_row);

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
  int conv_mr = 0, conv_nr = 0;
  f32_conv_ukr_fn f32_conv_ukr = nullptr;
  f32_conv_wgrad_ukr_fn f32_conv_wgrad_ukr = nullptr;
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
  f32_transpose_rows_fn f32_transpose_rows = nullptr;
  f32_col2im_row_fn f32_col2im_row = nullptr;
  f32_copy_rows_padded_fn f32_copy_rows_padded = nullptr;

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
