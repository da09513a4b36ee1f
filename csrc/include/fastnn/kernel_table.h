// The kernel table: one set of leaf-kernel function pointers per ISA, built once (dispatch.cpp).
// Tile sizes live here, next to the kernels that depend on them, never in the drivers.
#pragma once
#include <cstdint>
#include <type_traits>

#include "fastnn/conv_params.h"
#include "fastnn/params.h"

namespace fastnn {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// ---- [f32 GEMM] function-pointer types -----------------------------------------------------------
// Micro-kernel contract (the full text, with the packed layouts, is in docs/kernels.md):
//   a: packed A micro-panel, k steps of mr floats (step p holds A[0..mr)[p]).
//   b: packed B micro-panel, k steps of nr floats (step p holds B[p][0..nr)), 64-byte aligned.
//   c: row-major tile with row stride ldc; only the top-left m x n (1 <= m <= mr, 1 <= n <= nr) is
//      read or written (edge tiles use the same body with masked stores).
//   acc[i][j] = sum over p < k, in increasing p, of a[p*mr + i] * b[p*nr + j]   (k >= 1)
//   C[0:m,0:n] = alpha * acc            if accumulate == 0 (C is never read: it may hold NaN)
//   C[0:m,0:n] = C + alpha * acc        if accumulate != 0
// Every ISA's kernel reduces in the same increasing-p order with one accumulator per element, so
// the result bits do not depend on how the driver partitions the tiles among threads.
using f32_gemm_ukr_fn = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                 int64_t m, int64_t n, float alpha, int accumulate);

// A register tile: its shape and its micro-kernel (ukr null: the tile is absent).
struct F32GemmTile {
  int mr = 0, nr = 0;
  f32_gemm_ukr_fn ukr = nullptr;
};

// Packs a block of a strided matrix X into consecutive micro-panels of width w:
//   dst[(i / w)*kc*w + p*w + i % w] = src[i*s_i + p*s_p]   for i < count, p < kc
//   ... = 0 for count <= i < ceil(count / w) * w              (the last panel's padding)
// (A block: i = row, p = column of A, w = mr; B block: i = column, p = row of B, w = nr.)
// count >= 1, kc >= 1; strides may be negative. dst holds ceil(count/w)*kc*w floats.
using f32_pack_panels_fn = void (*)(const float* src, int64_t s_i, int64_t s_p, int64_t count,
                                   int64_t kc, int w, float* dst);

// Epilogue on a finished row-major tile (hot in L1): c = act(c + bias[col]).
// bias may be null. Applied once per output tile after the last K block.
using f32_epilogue_fn = void (*)(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                                 const Epilogue& ep);

// Rows times a vector: y[j] = sum over p < k of w[j*ldw + p] * x[p], for j < n (k >= 1): the
// product of one row of a small batch with a row-major weight (a Linear's W), read in place with
// no packing. The summation order is the kernel's own (lanes of p, then a horizontal sum), not
// the micro-kernel's increasing-p chain: a batch small enough for this path may differ from a
// larger batch in the last bits.
using f32_gemv_rows_fn = void (*)(const float* w, int64_t ldw, const float* x, int64_t k,
                                  int64_t n, float* y);

// Elementwise activation over a contiguous array: y = act(x) (in place allowed).
using f32_act_fn = void (*)(const float* x, float* y, int64_t n, const Epilogue& ep);

// ---- [layers: elementwise, losses, dropout] function-pointer types ----
// All arrays contiguous; n, rows, cols >= 0; in-place (y == x, dx == dy) allowed unless noted.
//
// Backward of an Epilogue activation: dx = dy * act'(x). The branch "x > 0" (relu, leaky_relu,
// elu) is read from `x` when it is non-null, else from the output `y` (exact when the activation
// keeps the sign: leaky slope >= 0, elu alpha >= 0 -- what a fused GEMM epilogue leaves behind);
// the derivative's value comes from y (elu: y + alpha; sigmoid: y(1-y); tanh: 1-y^2).
using f32_act_backward_fn = void (*)(const float* x, const float* y, const float* dy, float* dx,
                                     int64_t n, const Epilogue& ep);
// y = f(x) for an activation with fixed constants (SELU, exact-erf GELU).
using f32_unary_fn = void (*)(const float* x, float* y, int64_t n);
// dx = dy * f'(.), from `in`: the output y for SELU, the input x for GELU.
using f32_unary_backward_fn = void (*)(const float* in, const float* dy, float* dx, int64_t n);
// y = f(x) for one function of the shared vector math (fn: a VMath code of ops.h), so its
// accuracy can be tested directly (tests/kernels/test_vmath.py).
using f32_vmath_fn = void (*)(int fn, const float* x, float* y, int64_t n);
// Softmax of each of `rows` contiguous rows of length cols (cols >= 1).
using f32_softmax_rows_fn = void (*)(const float* x, float* y, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)) per row.
using f32_softmax_rows_backward_fn = void (*)(const float* y, const float* dy, float* dx,
                                              int64_t rows, int64_t cols);
// ycol[j] += sum over i < rows of x[i * ld + j], j < cols (bias gradients).
using f32_colsum_acc_fn = void (*)(const float* x, int64_t rows, int64_t cols, int64_t ld,
                                   float* ycol);
// Inverted dropout over elements [offset, offset + n) of a flat array (x, y point at element
// offset): y[i] = x[i] * (keep ? scale : 0), keep iff (hash32(key, offset + i) >> 8) >= threshold
// (threshold in [0, 2^24]); see docs in csrc/kernels/simd/elementwise_body.h. The range must not
// cross a multiple of 2^32. x == null means x[i] = 1 (emit the scaled mask).
using f32_dropout_fn = void (*)(const float* x, float* y, int64_t n, uint64_t key, int64_t offset,
                                uint32_t threshold, float scale);
// Cross-entropy rows (logits x: rows x cols, targets already range-checked, w: class weights or
// null = all ones, eps: label smoothing). Forward: lse[i] = logsumexp(x[i]),
// loss[i] = (1-eps) w[t] (lse - x[i,t]) + eps/cols * sum_c w[c] (lse - x[i,c]).
using f32_xent_forward_fn = void (*)(const float* x, int64_t rows, int64_t cols,
                                     const int64_t* target, const float* w, float eps, float* lse,
                                     float* loss);
// Backward: dx[i,j] = s_i * (p_ij ((1-eps) w[t] + eps W / cols) - (1-eps) w[t] [j==t]
//                          - eps/cols w[j]), p = exp(x - lse), W = sum(w), s_i = scale * (row_scale
// ? row_scale[i] : 1).
using f32_xent_backward_fn = void (*)(const float* x, const float* lse, int64_t rows,
                                      int64_t cols, const int64_t* target, const float* w,
                                      float w_sum, float eps, float scale, const float* row_scale,
                                      float* dx);
// Pointwise losses over elements [offset, offset + n) of flat arrays (pointers at element offset):
//   mse: (x - t)^2;  huber: 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta), d = x - t;
//   bce_logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x), softplus evaluated stably.
// Each per-element loss is multiplied by w[i] when w is non-null. pw (BCE pos_weight, may be null)
// is indexed by (offset + i) % pw_len: it broadcasts over the last dimension.
// fastnn._C.PointwiseLossKind (enum_list.h).
#define FASTNN_POINTWISE_LOSS_LIST(X) \
  X(mse, 0, "MSELoss") X(huber, 1, "HuberLoss") X(bce_logits, 2, "BCEWithLogitsLoss")
FASTNN_DEFINE_ENUM(PointwiseLossKind, FASTNN_POINTWISE_LOSS_LIST)
struct PointwiseLoss {
  PointwiseLossKind kind = PointwiseLossKind::mse;
  float delta = 1.0f;
  const float* pos_weight = nullptr;
  int64_t pw_len = 1;
};
// Returns the sum of the per-element losses (accumulated in double); writes each to out[i] if
// out is non-null.
using f32_pointwise_loss_fn = double (*)(const PointwiseLoss& l, const float* x, const float* t,
                                         const float* w, int64_t offset, int64_t n, float* out);
// dx[i] = scale * (g ? g[i] : 1) * d loss_i / d x_i.
using f32_pointwise_loss_backward_fn = void (*)(const PointwiseLoss& l, const float* x,
                                                const float* t, const float* w, int64_t offset,
                                                int64_t n, const float* g, float scale, float* dx);

// ---- [layers: hardtanh .. softsign, PReLU, log-softmax] function-pointer types ----
// y = f(x) for a Unary code op >= 8 of ops.h (hardtanh, hardsigmoid, hardswish, softplus,
// softsign) with the constants p (params.h ActParams documents each).
using f32_act_ext_fn = void (*)(int op, const float* x, float* y, int64_t n, const ActParams& p);
// dx = dy * f'(x), from the forward's input x.
using f32_act_ext_backward_fn = void (*)(int op, const float* x, const float* dy, float* dx,
                                         int64_t n, const ActParams& p);
// One contiguous run of one PReLU channel: y = x > 0 ? x : slope * x.
using f32_prelu_run_fn = void (*)(const float* x, float* y, int64_t n, float slope);
// Its backward: dx = x > 0 ? dy : slope * dy; *dslope = the run's sum of (x > 0 ? 0 : x * dy)
// in float (the frame adds the runs in double, in a fixed order).
using f32_prelu_run_backward_fn = void (*)(const float* x, const float* dy, float* dx, int64_t n,
                                           float slope, float* dslope);
// PReLU over `rows` contiguous rows of length cols with one slope per column (the (N, C) input,
// and (N, C, L) with short L, its slopes repeated L times): y = x > 0 ? x : slope[j] * x.
using f32_prelu_rows_fn = void (*)(const float* x, float* y, int64_t rows, int64_t cols,
                                   const float* slope);
// Its backward: dx as the run's; dslope[j] += sum over the rows of (x > 0 ? 0 : x * dy) in float.
using f32_prelu_rows_backward_fn = void (*)(const float* x, const float* dy, float* dx,
                                            int64_t rows, int64_t cols, const float* slope,
                                            float* dslope);
// Log-softmax rows use the softmax row types: y = x - max - log(sum exp(x - max)) per row, and
// backward dx = dy - exp(y) * sum(dy) per row.

// ---- [layers: conv, pool, batchnorm] function-pointer types ----
// Leaves working on one contiguous H x W plane (pool, depthwise conv, vectorised across the
// output width) or one contiguous row (batch norm). Geometry: conv_params.h. Bodies: one template
// per operation in kernels/simd/*_body.h, instantiated with each ISA's vector traits; the
// references in kernels/ref/ are plain loops of their own.
struct Conv2dGeom;
struct Pool2dGeom;
// Max pooling: y[oy][ox] = max over the window (NaN wins, first maximum kept), argmax[oy][ox] =
// its flat index iy*w + ix in the plane (PyTorch's semantics); argmax may be null (values only).
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
// Column kernels (batch norm on (n, c): each channel is a column of a row-major block with row
// stride ld; one call covers `cols` <= ld adjacent columns starting at the given pointers, j < cols
// below). Reductions write (not add) float sums over the `rows` given; callers add chunks in double.
//   col_moments: sum[j] = sum_i (x[i*ld+j] - shift[j]), sumsq[j] = sum_i (x[i*ld+j] - shift[j])^2
//   col_affine:  y[i*ld+j] = a[j]*x[i*ld+j] + b[j]                         (in place allowed)
//   col_dot2:    sdy[j] = sum_i dy[i*ld+j], sdyx[j] = sum_i dy[i*ld+j] * (x[i*ld+j] - shift[j])
//   col_affine2: dx[i*ld+j] = a[j]*dy[i*ld+j] + b[j]*x[i*ld+j] + c[j]     (dx may alias dy)
using f32_col_moments_fn = void (*)(const float* x, int64_t rows, int64_t ld, int64_t cols,
                                    const float* shift, float* sum, float* sumsq);
using f32_col_affine_fn = void (*)(const float* x, float* y, int64_t rows, int64_t ld,
                                   int64_t cols, const float* a, const float* b);
using f32_col_dot2_fn = void (*)(const float* dy, const float* x, int64_t rows, int64_t ld,
                                 int64_t cols, const float* shift, float* sdy, float* sdyx);
using f32_col_affine2_fn = void (*)(const float* dy, const float* x, float* dx, int64_t rows,
                                    int64_t ld, int64_t cols, const float* a, const float* b,
                                    const float* c);
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
// One output row of a stride-1 convolution with a short contraction (the first layers of a CNN:
// 1 to 7 input channels), read in place from a zero-padded image, output channels innermost:
//   y[j*ldy + ox] = bias[j] + sum over t < taps, in increasing t, of w[j*taps + t] * src[off[t] + ox]
// for j < k, ox < ow (bias may be null: 0). k, taps, ow >= 1; src[off[t] + ox] is read only for
// ox < ow. One accumulator per output element: the bits do not depend on threads or blocking.
using f32_conv_taps_row_fn = void (*)(const float* src, const int64_t* off, int64_t taps,
                                      const float* w, const float* bias, int64_t k, int64_t ow,
                                      float* y, int64_t ldy);
// Row copy with zero fill: dst[r*dld + t] = src[r*sld + t - lead] where 0 <= t - lead < n_src,
// else 0, for r < rows, t < n_dst (a conv input into the padded-width layout).
using f32_copy_rows_padded_fn = void (*)(const float* src, int64_t sld, int64_t n_src,
                                         int64_t lead, int64_t rows, float* dst, int64_t dld,
                                         int64_t n_dst);
// Winograd F(m x m, 3 x 3) tile transforms (m = 2 or 4, alpha = m + 2) on `lanes` tiles at once
// (lanes a multiple of the vector width: the frame passes f32_nr). Formulas in
// kernels/simd/winograd_body.h; ref/winograd.cpp applies the textbook matrices.
//   input:  v[xi*vs + l] = (B^T d_l B)[xi],  tile l's alpha x alpha patch
//           d_l[i][j] = rows[l][off + i*ld + j]; 8 floats are read from each patch row (the
//           rows need 8 - alpha floats of slack)
//   output: rows[i*lanes + l][off + j] = (A^T s_l A)[i][j] + bias for i, j < m (row i of tile
//           l's output), s[xi*ss + l] = tile l's products
// (xi = row * alpha + column of the alpha x alpha transform domain).
using f32_winograd_input_fn = void (*)(int m, const float* const* rows, int64_t off, int64_t ld,
                                       int64_t lanes, float* v, int64_t vs);
using f32_winograd_output_fn = void (*)(int m, const float* s, int64_t ss, int64_t lanes,
                                        float bias, float* const* rows, int64_t off);
// col2im of a stride-1 conv, one input row: dx_row[x] = sum over (ki, kj) of
// dcol[(ki*kw + kj)*ld + oy*wp + ox] with (oy, ox) = (y + ph - ki*dh, x + pw - kj*dw) inside
// oh x ow; dcol points at the channel's first im2col row (padded-width pixels, row period wp).
using f32_col2im_row_fn = void (*)(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g,
                                   int64_t y, float* dx_row);

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
// u8 x s8 -> s32 GEMM micro-kernel with a fused requantisation epilogue (docs/int8_gemm.md).
// Packed B (weights) layout, shared by every ISA so a packed weight never depends on the table:
//   panels of kS8NR = 32 columns; in a panel, k grouped by kS8KG = 4: group g holds, for column
//   c = 0..31, the 4 bytes B[4g..4g+3][c] (bytes 128*g + 4*c + q); columns past n and k past K
//   are zero. One panel is kg * 128 bytes (kg = ceil(K / 4)).
// A (activations, u8) is read as 4-byte groups: row i, group g at a + i * a_rs + g * a_gs.
//   Direct (row-major A, K % 4 == 0): a_rs = lda, a_gs = 4. Packed: a_rs = 4, a_gs = 4 * m.
constexpr int kS8NR = 32, kS8KG = 4;
enum class S8Out : int { s32 = 0, f32 = 1, u8 = 2 };
// Per output column j (pointers already advanced to the tile's first column, each readable for a
// full 32-column panel: the driver pads them with zeros):
//   acc'  = acc + offset[j]                        int32, exact (offset = bias_i32 - za * colsum)
//   s32:  out = acc'
//   f32:  y = fma(float(acc'), scale[j], shift[j]); out = relu ? (y > 0 ? y : +0) : y
//   u8 :  y = fma(float(acc'), scale[j], shift[j]); y = min(max(y, lo), hi);
//         out = round-half-to-even(y)      (float32 arithmetic, default rounding mode)
struct S8Epilogue {
  S8Out out = S8Out::s32;
  const int32_t* offset = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  float lo = 0.0f, hi = 255.0f;  // u8 clamp (lo = z_out for ReLU)
  int relu = 0;                  // f32 only
};
// kg >= 0 groups of 4 along K; b: one packed panel (from its group 0); c: row-major tile of the
// output dtype with row stride ldc (elements); only rows [0, m) (1 <= m <= s8_mr) and columns
// [0, n) (1 <= n <= 32) are written; A rows >= m are never read.
using s8_gemm_ukr_fn = void (*)(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs,
                                const int8_t* b, void* c, int64_t ldc, int64_t m, int64_t n,
                                const S8Epilogue& ep);
// Whether the AVX-512 VNNI kernel may be registered: the CPU has avx512vnni and FASTNN_NO_VNNI is
// unset (that switch exercises the fallback on VNNI machines). ISA-free; defined in gemm_s8.cpp.
bool s8_vnni_usable();
// AMX int8 tiles (csrc/kernels/avx512/gemm_s8_amx.cpp, built where the compiler knows AMX: macro
// FASTNN_BUILT_AMX). Not a table slot: the driver (gemm_s8.cpp) takes this path itself when the
// AVX-512 table is active, the tiles are granted (amx_tiles_granted) and the mode allows it:
//   off: never; automatic (default): from 4 rows of A and 32 columns; on: always (tests).
// FASTNN_NO_AMX=1 starts the process with the mode off.
enum class S8AmxMode : int { off = 0, automatic = 1, on = 2 };
// The switches are one per product kind (csrc/frame/amx_mode.cpp); the s8_ / bf16_ functions
// below are these for their kind.
enum class AmxKind : int { s8 = 0, bf16 = 1 };
bool amx_usable(AmxKind kind);  // compiled, the CPU has the kind's tiles, the OS granted them
S8AmxMode amx_mode(AmxKind kind);
void set_amx_mode(AmxKind kind, S8AmxMode mode);  // std::invalid_argument: 'on' where unusable
void set_s8_amx_mode(S8AmxMode mode);  // throws std::invalid_argument where AMX is not usable
S8AmxMode s8_amx_mode();
bool s8_amx_usable();                  // compiled, granted; independent of the mode
// Layouts. A tiles are 16 rows x 64 k bytes: read in place from row-major A (whole row tiles,
// whole k blocks), or packed by the driver (the last rows, the last k block: zero past them).
// B is the shared packed panel above, read 16 groups (64 k) per tile load with row stride 128
// (bytes 0-63: columns 0-15, 64-127: columns 16-31); the groups past a panel's kg belong to the
// next panel or to kS8AmxTailBytes of zeros after the last one, and meet zero bytes of A.
constexpr int64_t kS8AmxTailBytes = 16 * kS8NR * kS8KG;
namespace avx512 {
void u8s8_amx_configure();  // load this thread's tile configuration (before the tile calls)
void u8s8_amx_release();    // release the tiles (after them)
// Rows [0, m) (1 <= m <= 32) x columns [0, n) (1 <= n <= 32) of the output, through the epilogue
// of the VNNI kernel. k block q (64 k, q < kb) of row r (< 16) of the first row tile is at
// a + q * a_qs + r * a_rs, of the second at + a_ts; then, if tail is not null, one more block
// from tail (two packed tiles: rows at stride 64, the second tile at + 1024). B: the panel b.
void u8s8_amx_tile_32x32(int64_t kb, const uint8_t* a, int64_t a_rs, int64_t a_qs, int64_t a_ts,
                         const uint8_t* tail, int64_t m, const int8_t* b, void* c, int64_t ldc,
                         int64_t n, const S8Epilogue& ep);
}  // namespace avx512

// ---- [bf16 GEMM] ------------------------------------------------------------------------------
// Mixed-precision products (Module.to_bf16(), docs/kernels.md "bf16 inference"): A and B rounded
// to bfloat16 (round to nearest even), products exact, sums in float32. The sgemm driver runs
// them with the table's bf16_gemm tile (an f32_gemm_ukr_fn), its packers writing pair words into
// the usual float-sized panels: step q < ceil(k/2) of a panel holds w 32-bit words, word i =
// bf16(X[i][2q]) | bf16(X[i][2q+1]) << 16 (zero for 2q+1 = k). The ukr's k is the element count;
//   acc[i][j] = sum over q, in increasing q, of (a_hi * b_hi, then a_lo * b_lo), each added in f32
// (the order of VDPBF16PS; the emulations follow it, so every path gives the same bits on
// normal numbers -- VDPBF16PS flushes denormal inputs and results to zero).
// bf16_native_usable(): the CPU has avx512_bf16, the kernel is built (FASTNN_BUILT_BF16) and
// FASTNN_NO_BF16 is unset (that switch exercises the emulation on such machines).
bool bf16_native_usable();
// Round-to-nearest-even float bits -> bfloat16 bits (in the low half); NaN stays NaN (quiet).
// Branch-free, so that conversion loops vectorise.
inline uint32_t bf16_round_bits(uint32_t u) {
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet = (u >> 16) | 0x40u;
  return (u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
}
inline uint16_t f32_to_bf16_bits(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return static_cast<uint16_t>(bf16_round_bits(u));
}
// x rounded to bfloat16, as the float it widens back to (exact).
inline float bf16_rounded(float x) {
  const uint32_t u = static_cast<uint32_t>(f32_to_bf16_bits(x)) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
// The pair panels above from float panels written in place by an f32 packer: `panels` panels of
// kc steps x w floats each (stride kc * w floats), rewritten as ceil(kc/2) steps of w words.
void bf16_pair_panels(float* buf, int64_t panels, int64_t kc, int w);
// y[i] = x[i] rounded to bfloat16, as a float (threaded for long arrays; y may be x).
void bf16_round_array(const float* x, float* y, int64_t n);
// AMX bf16 tiles (csrc/frame/gemm_bf16.h; kernel csrc/kernels/avx512/gemm_bf16_amx.cpp): the
// bf16 products take them when bf16_use_amx(): built (FASTNN_BUILT_AMX), the CPU has amx_bf16,
// the OS granted the tiles, the AVX-512 table is active and the mode is not off (the S8AmxMode
// values; automatic: every product; FASTNN_NO_AMX=1 starts the process with it off).
bool bf16_amx_usable();
bool bf16_use_amx();
void set_bf16_amx_mode(S8AmxMode mode);  // std::invalid_argument: 'on' where AMX is not usable
S8AmxMode bf16_amx_mode();
namespace ref {
void bf16_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate);
}
namespace avx512 {
void bf16_gemm_ukr_12x32_emu(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                             int64_t m, int64_t n, float alpha, int accumulate);
void bf16_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                         int64_t m, int64_t n, float alpha, int accumulate);  // avx512_bf16
}  // namespace avx512

// Quantized tensors and layers (fastnn.quant; docs/quantization.md). u8 tensors carry one scale
// and zero point per tensor; 4-D ones are stored NHWC so that a pixel's channels are contiguous
// (im2col rows are then runs of C bytes, and 1x1 convolutions are plain GEMMs).
//   quantize:   q = sat_u8(nearbyint(x * inv_scale) + zp): the product in float32, rounded half
//               to even, the integer zero point added in float32 (exact), then clamped to
//               [0, 255]; NaN -> 0. Out-of-range values saturate, they never wrap.
//   dequantize: x = (float(q) - zp) * scale (the difference is exact: one rounding).
using f32_quantize_u8_fn = void (*)(const float* x, uint8_t* q, int64_t n, float inv_scale,
                                    float zp);
using u8_dequantize_f32_fn = void (*)(const uint8_t* q, float* x, int64_t n, float scale,
                                      float zp);
// Min and max of n >= 1 floats, NaN ignored (both +inf / -inf when every value is NaN); returns
// nonzero when some value is NaN.
using f32_minmax_fn = int (*)(const float* x, int64_t n, float* lo, float* hi);
// hist[b] += 1 for each x (|x| when absval) with b = clamp(int((v - lo) * inv_width), 0,
// bins - 1), the float32 subtraction and product as written; NaN is skipped.
using f32_histogram_fn = void (*)(const float* x, int64_t n, float lo, float inv_width,
                                  int64_t bins, int absval, int64_t* hist);
// out[j] = max over t < ntaps of taps[t][j], j < c; ntaps >= 1 (u8 max pooling, one pixel).
using u8_max_taps_fn = void (*)(const uint8_t* const* taps, int64_t ntaps, uint8_t* out,
                                int64_t c);
// acc[j] += sum over r < rows of x[r * c + j], j < c (u8 global average pooling; the driver
// bounds rows so the int32 sums cannot overflow).
using u8_sum_rows_fn = void (*)(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc);
// Convolution geometry over one NHWC u8 image (h x w x c), output oh x ow.
struct U8ConvGeom : Window2d {
  int64_t h = 0, w = 0, c = 0;
  int64_t k = 0, kp = 0;   // kh * kw * c, and kp >= k (a multiple of 4: the GEMM reads in place)
  uint8_t pad = 0;         // value of padding pixels and of row bytes [k, kp): the zero point
};
// One output row of max pooling, columns already clipped to the image: out[ox * c + j] = max
// over t < nrows, kx < kw of rows[t][(ox * sw + kx) * c + j], for ox < count, j < c.
using u8_maxpool_row_fn = void (*)(const uint8_t* const* rows, int64_t nrows, int64_t kw,
                                   int64_t sw, int64_t c, int64_t count, uint8_t* out);
// im2col rows from a padded band of one NHWC image. xp: padded row y0 of the image (padded
// coordinates: input row + ph, input column + pw; every byte a row needs lies in the band), row
// stride xs bytes. Row r (pixel p = p0 + r at (oy, ox) = (p / ow, p % ow)) at dst + r * kp: for
// each tap (ky, kx) in row-major order, the c bytes at padded (oy * sh + ky * dh - y0,
// ox * sw + kx * dw) (for dw == 1 one run of kw * c bytes per ky); then kp - k bytes of pad.
// Runs are copied with whole vector moves: writes go in increasing address order and may run up
// to 63 bytes past a row (into the next row, written afterwards) -- dst needs 64 bytes of slack
// after the last row -- and reads up to 63 bytes past a run: xp needs 64 readable bytes of slack.
using u8_im2col_band_fn = void (*)(const U8ConvGeom& g, const uint8_t* xp, int64_t xs,
                                   int64_t y0, int64_t p0, int64_t count, uint8_t* dst);

// ---- [sparse / prune] function-pointer types ----
// CSR rows times a dense panel (W @ X). Rows o in [0, m) of a CSR matrix: row o holds entries
// p in [row_ptr[o], row_ptr[o+1]) with input index col[p] and value val[p] (row_ptr points at the
// first row's offset; col/val are the whole arrays). x is a dense panel whose row i (input i)
// starts at x + i*ldx and holds n contiguous floats (samples or pixels: the vector dimension).
//   y[o*ldy + j] = act(bias[o] + sum_p val[p] * x[col[p]*ldx + j])    for o < m, j < n
// bias may be null (0). ep.act is none or relu. Empty rows give act(bias). Nothing outside the
// m x n output is written; x is read only at rows named by col and columns < n.
using f32_spmm_fn = void (*)(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                             const float* val, const float* x, int64_t ldx, const float* bias,
                             float* y, int64_t ldy, const Epilogue& ep);
// CSR rows times one contiguous vector x: y[o] = act(bias[o] + sum_p val[p] * x[col[p]]), o < m.
// Same row conventions and epilogue contract as f32_spmm_fn; y is contiguous.
using f32_spmv_fn = void (*)(int64_t m, const int64_t* row_ptr, const int32_t* col,
                             const float* val, const float* x, const float* bias, float* y,
                             const Epilogue& ep);
// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols: packs a row-major batch into the
// inputs x samples panel of f32_spmm_fn and turns its outputs x samples result back. Each
// destination row is written in one run. Nothing outside the cols x rows image of dst is written.
using f32_transpose_fn = void (*)(int64_t rows, int64_t cols, const float* src, int64_t lds,
                                  float* dst, int64_t ldd);
// x[i] = x[i] * mask[i] for i < n: a pruning mask (0/1) applied in place, by multiplication as
// the fused optimizer step applies it (a 0 gives an exact zero for any finite x).
using f32_mask_mul_fn = void (*)(float* x, const float* mask, int64_t n);

// ---- the one list of leaf-kernel slots ----
// X(type, slot) for every function-pointer slot of KernelTable. It generates the table's fields,
// the origin record of each slot and kernel_names(); each ISA's kernels.inc (K(slot, symbol)
// lines) generates that ISA's declarations and registrations (csrc/runtime/register_kernels.cpp).
#define FASTNN_KERNEL_SLOTS(X) \
  /* [f32 GEMM] */ \
  X(f32_gemm_ukr_fn, f32_gemm_ukr) \
  X(f32_pack_panels_fn, f32_pack_panels) \
  X(f32_epilogue_fn, f32_epilogue) \
  X(f32_act_fn, f32_act) \
  X(f32_gemv_rows_fn, f32_gemv_rows) \
  X(f32_gemv_rows_fn, bf16_gemv_rows) \
  /* [layers: elementwise, losses, dropout] */ \
  X(f32_act_backward_fn, f32_act_backward) \
  X(f32_unary_fn, f32_selu) \
  X(f32_unary_fn, f32_gelu) \
  X(f32_unary_backward_fn, f32_selu_backward) \
  X(f32_unary_backward_fn, f32_gelu_backward) \
  X(f32_vmath_fn, f32_vmath) \
  X(f32_softmax_rows_fn, f32_softmax_rows) \
  X(f32_softmax_rows_backward_fn, f32_softmax_rows_backward) \
  X(f32_colsum_acc_fn, f32_colsum_acc) \
  X(f32_dropout_fn, f32_dropout) \
  X(f32_xent_forward_fn, f32_xent_forward) \
  X(f32_xent_backward_fn, f32_xent_backward) \
  X(f32_pointwise_loss_fn, f32_pointwise_loss) \
  X(f32_pointwise_loss_backward_fn, f32_pointwise_loss_backward) \
  X(f32_act_ext_fn, f32_act_ext) \
  X(f32_act_ext_backward_fn, f32_act_ext_backward) \
  X(f32_prelu_run_fn, f32_prelu_run) \
  X(f32_prelu_run_backward_fn, f32_prelu_run_backward) \
  X(f32_prelu_rows_fn, f32_prelu_rows) \
  X(f32_prelu_rows_backward_fn, f32_prelu_rows_backward) \
  X(f32_softmax_rows_fn, f32_log_softmax_rows) \
  X(f32_softmax_rows_backward_fn, f32_log_softmax_rows_backward) \
  /* [layers: conv, pool, batchnorm] */ \
  X(f32_conv_ukr_fn, f32_conv_ukr) \
  X(f32_conv_wgrad_ukr_fn, f32_conv_wgrad_ukr) \
  X(f32_conv_taps_row_fn, f32_conv_taps_row) \
  X(f32_maxpool2d_plane_fn, f32_maxpool2d_plane) \
  X(f32_avgpool2d_plane_fn, f32_avgpool2d_plane) \
  X(f32_avgpool2d_plane_bwd_fn, f32_avgpool2d_plane_bwd) \
  X(f32_dwconv2d_plane_fn, f32_dwconv2d_plane) \
  X(f32_dwconv2d_plane_bwd_data_fn, f32_dwconv2d_plane_bwd_data) \
  X(f32_dwconv2d_plane_bwd_weight_fn, f32_dwconv2d_plane_bwd_weight) \
  X(f32_row_moments_fn, f32_row_moments) \
  X(f32_row_affine_fn, f32_row_affine) \
  X(f32_row_dot2_fn, f32_row_dot2) \
  X(f32_row_affine2_fn, f32_row_affine2) \
  X(f32_col_moments_fn, f32_col_moments) \
  X(f32_col_affine_fn, f32_col_affine) \
  X(f32_col_dot2_fn, f32_col_dot2) \
  X(f32_col_affine2_fn, f32_col_affine2) \
  X(f32_transpose_rows_fn, f32_transpose_rows) \
  X(f32_col2im_row_fn, f32_col2im_row) \
  X(f32_copy_rows_padded_fn, f32_copy_rows_padded) \
  X(f32_winograd_input_fn, f32_winograd_input) \
  X(f32_winograd_output_fn, f32_winograd_output) \
  /* [optim] */ \
  X(f32_sgd_update_fn, f32_sgd_update) \
  X(f32_adagrad_update_fn, f32_adagrad_update) \
  X(f32_rmsprop_update_fn, f32_rmsprop_update) \
  X(f32_adam_update_fn, f32_adam_update) \
  X(f32_sum_sq_fn, f32_sum_sq) \
  X(f32_sum_abs_fn, f32_sum_abs) \
  X(f32_max_abs_fn, f32_max_abs) \
  X(f32_sum_abs_pow_fn, f32_sum_abs_pow) \
  X(f32_scale_fn, f32_scale) \
  X(f32_clamp_fn, f32_clamp) \
  /* [int8 GEMM] */ \
  X(s8_gemm_ukr_fn, s8_gemm_ukr) \
  X(f32_quantize_u8_fn, f32_quantize_u8) \
  X(u8_dequantize_f32_fn, u8_dequantize_f32) \
  X(f32_minmax_fn, f32_minmax) \
  X(f32_histogram_fn, f32_histogram) \
  X(u8_max_taps_fn, u8_max_taps) \
  X(u8_sum_rows_fn, u8_sum_rows) \
  X(u8_maxpool_row_fn, u8_maxpool_row) \
  X(u8_im2col_band_fn, u8_im2col_band) \
  /* [sparse / prune] */ \
  X(f32_spmm_fn, f32_spmm) \
  X(f32_spmv_fn, f32_spmv) \
  X(f32_transpose_fn, f32_transpose) \
  X(f32_mask_mul_fn, f32_mask_mul)

// The ISA whose register_kernels filled a slot, and the kernel's name there.
struct KernelOrigin {
  Isa isa = Isa::generic;
  const char* symbol = "";
};

struct KernelTable {
  Isa isa = Isa::generic;

  // ---- [f32 GEMM] ----
  // The main register tile (used for every shape unless the narrow tile fits n better).
  int f32_mr = 0, f32_nr = 0;
  // Optional tile for small n (n well below f32_nr); ukr null where the ISA has none. The driver
  // picks between the two by how many of each tile's lanes the shape fills (f32_choose_tile).
  F32GemmTile f32_gemm_narrow;
  // Cache blocking upper bounds in elements (BLIS's KC, MC, NC): a kc x nr B micro-panel stays in
  // L1 while the mc x kc A block stays in L2 and the kc x nc B block in L3. kc fixes the order of
  // the K reduction, so it depends on the ISA and k only, never on the thread count.
  int f32_kc = 0, f32_mc = 0, f32_nc = 0;

  // ---- [bf16 GEMM] ----
  F32GemmTile bf16_gemm;           // tile and ukr of the bf16 products (see [bf16 GEMM] above)
  const char* bf16_gemm_name = "";

  // ---- [layers: conv, pool, batchnorm] ----
  int conv_mr = 0, conv_nr = 0;

  // ---- [int8 GEMM] ----
  int s8_mr = 0;                       // max rows of one micro-tile (columns: kS8NR)
  const char* s8_gemm_name = "";       // e.g. "avx512_vnni u8s8 14x32"

  // ---- [sparse / prune] ----
  // spmm_nb: panel columns one register tile covers (the driver pads packed panels to it);
  // spmv_max_batch: X @ W^T with at most this many samples runs f32_spmv once per sample
  // (a batch too narrow to fill a vector row of the panel kernel).
  int spmm_nb = 0, spmv_max_batch = 0;

  // ---- the leaf-kernel slots (FASTNN_KERNEL_SLOTS) ----
#define FASTNN_SLOT_FIELD(type, slot) type slot = nullptr;
  FASTNN_KERNEL_SLOTS(FASTNN_SLOT_FIELD)
#undef FASTNN_SLOT_FIELD
  // Where each slot's kernel came from (kernel_names()).
  struct Origins {
#define FASTNN_SLOT_ORIGIN(type, slot) KernelOrigin slot;
    FASTNN_KERNEL_SLOTS(FASTNN_SLOT_ORIGIN)
#undef FASTNN_SLOT_ORIGIN
  } origin;
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

// In an ISA's namespace: declare `symbol` with the signature of `slot`; fill the slot with it,
// noting where it came from.
#define FASTNN_DECLARE_KERNEL(slot, symbol) \
  std::remove_pointer_t<decltype(::fastnn::KernelTable::slot)> symbol;
#define FASTNN_FILL_KERNEL(table, from, slot, symbol) \
  (table).slot = symbol;                                \
  (table).origin.slot = ::fastnn::KernelOrigin{from, #symbol};

}  // namespace fastnn
