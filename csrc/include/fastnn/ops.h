// Every C++ entry point of fastnn, declared once. Drivers (csrc/frame) define them, check their
// arguments (throwing std::invalid_argument with the argument's name, expected and actual shape)
// and call leaf kernels through kernels().
#pragma once
#include <cstdint>
#include <memory>
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
  bool avx512bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;  // XCR0 tile state enabled too
  bool os_avx = false, os_avx512 = false;  // XGETBV: the OS saves the registers
};
const CpuFeatures& cpu_features();
// AMX tiles usable in this process: the CPU has them, the OS enables their state, and Linux granted
// this process tile data (arch_prctl(ARCH_REQ_XCOMP_PERM), asked once, on the first call).
bool amx_tiles_granted();
bool isa_supported(Isa isa);   // compiled in AND supported by this CPU and OS
bool isa_compiled(Isa isa);
Isa best_isa();
Isa active_isa();
// Switch the active table; throws std::invalid_argument for an unknown or unsupported ISA.
void set_isa(const std::string& name);
// Reads FASTNN_ISA (if set) and builds the table; throws if the requested ISA is not usable.
void init_dispatch();
// Each leaf-kernel slot of the active table, in FASTNN_KERNEL_SLOTS order: the slot, the ISA
// whose register_kernels filled it, and the kernel's symbol there.
struct KernelName {
  const char* slot;
  const char* isa;
  const char* symbol;
};
std::vector<KernelName> kernel_names();

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
  // Mixed precision: A and B rounded to bfloat16, products summed in float32 (the table's
  // bf16_gemm tile; kernel_table.h "[bf16 GEMM]"). For inference (Module.to_bf16()).
  bool bf16 = false;
};
void sgemm(const GemmArgs& args);

// The naive triple loop, for tests and as the reference the kernels are checked against.
void sgemm_reference(const GemmArgs& args);

// ---- [layers: elementwise, losses, dropout] ----
// Activations: params.h FASTNN_UNARY_LIST (the enum Unary, fastnn._C.Unary). Arrays are
// contiguous with n elements; y may alias x, dx dy.
// An activation's constants: p1 = LeakyReLU's slope, ELU's alpha, Hardtanh's min_val,
// HardSigmoid's alpha, Softplus's beta; p2 = Hardtanh's max_val, HardSigmoid's beta, Softplus's
// threshold. One float converts implicitly (the activations with one constant).
struct UnaryParam {
  float p1 = 0.0f, p2 = 0.0f;
  UnaryParam(float a = 0.0f, float b = 0.0f) : p1(a), p2(b) {}  // NOLINT: implicit on purpose
};

// The shared vector math (csrc/kernels/simd/vmath_body.h) one function at a time: exp; expm1
// of min(x, 0); tanh; sigmoid; phi_tail = Phi(-|x|), the Gaussian lower tail (one exp, GELU
// forward); phi_tail_q and phi_tail_g = the two outputs of the two-exp variant GELU backward
// uses, Phi(-|x|) and exp(-x^2/2). For testing its accuracy on every ISA path; the layers use it
// through their own kernels.
enum class VMath : int {
  exp = 0, expm1_nonpos = 1, tanh = 2, sigmoid = 3, phi_tail = 4, phi_tail_q = 5, phi_tail_g = 6
};
// Throws std::invalid_argument for an unknown name; vmath_names() lists the valid ones.
VMath vmath_from_name(const std::string& name);
std::string vmath_names();
// y = fn(x) over n elements. Throws std::invalid_argument for a code outside VMath or n < 0.
void vmath(VMath fn, const float* x, float* y, int64_t n);
// Activation statistics (fit's Diagnostics), added into acc[0 .. 3 + channels): acc[0] +=
// elements, acc[1] += sum of values, acc[2] += sum of squares, acc[3 + c] += how many values of
// channel c are > 0, where element i is in channel (i / inner) % channels ((N, C): inner 1;
// NCHW: inner H*W). Computed block by block inside the pass that writes the values.
struct ActStats {
  double* acc = nullptr;
  int64_t channels = 1, inner = 1;
};
// The same statistics of an existing array (an activation a GEMM epilogue computed).
void act_stats_accumulate(const float* y, int64_t n, const ActStats& s);
// stats (optional): the statistics of the output y.
// y[i] = a[i] + b[i] (then max(., 0) when relu) for n elements, threaded in fixed blocks; y may be
// a or b itself (never a partial overlap: the bindings check). The Add layer's forward and the
// graph executor's gradient sums at fan-outs.
void add_arrays(const float* a, const float* b, float* y, int64_t n, bool relu);
void unary_forward(Unary op, UnaryParam param, const float* x, float* y, int64_t n,
                   const ActStats* stats = nullptr);
// True when the backward needs the forward's input x; otherwise it works from the output y alone
// (what a GEMM epilogue that fused the activation leaves behind). Needs x: gelu, leaky_relu with
// slope < 0 and elu with alpha < 0 (the output's sign no longer tells which branch was taken),
// and every code >= 8. unary_forward and unary_backward check the constants of codes >= 8
// (std::invalid_argument naming them): finite (hardtanh: not NaN, an infinite bound is one-sided),
// hardtanh min_val <= max_val, softplus beta != 0.
bool unary_backward_needs_input(Unary op, UnaryParam param);
// dx = dy * op'(x); y is the forward's output, x may be null unless needed (above).
// stats (optional): the statistics of dx, the gradient leaving the activation.
void unary_backward(Unary op, UnaryParam param, const float* x, const float* y, const float* dy,
                    float* dx, int64_t n, const ActStats* stats = nullptr);

// Softmax along the middle axis of a contiguous (outer, dim, inner) array; dim >= 1.
void softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner);
void softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                      int64_t inner);
// Log-softmax the same way: y = x - max - log(sum exp(x - max)); dx = dy - exp(y) * sum(dy).
void log_softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner);
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t dim,
                          int64_t inner);

// PReLU over a contiguous (outer, channels, inner) array: y = x > 0 ? x : slope[c] * x, with
// nslope == channels slopes, or nslope == 1 (one slope for every element). Backward: dx (written)
// and, if dslope is non-null, dslope[k] += sum of (x > 0 ? 0 : x * dy) over slope k's elements,
// summed in double in an order fixed by the shape alone (any thread count, the same bits).
void prelu_forward(const float* x, const float* slope, int64_t nslope, float* y, int64_t outer,
                   int64_t channels, int64_t inner);
void prelu_backward(const float* x, const float* slope, int64_t nslope, const float* dy, float* dx,
                    float* dslope, int64_t outer, int64_t channels, int64_t inner);

// Linear: y (rows x out, row-major, contiguous) = act(x @ W^T + b), one sgemm reading W (out x in,
// row-major) transposed in place; bias (out) may be null.
// bf16: the product in mixed precision (GemmArgs::bf16).
void linear_forward(const MatView& x, const float* weight, const float* bias, int64_t out_features,
                    const Epilogue& ep, float* y, bool bf16 = false);
// dy: (rows x out) contiguous; x: the forward's input view (rows x in). Any of dx (rows x in,
// written), grad_w (out x in, accumulated: += dy^T x) and grad_b (out, accumulated: += colsum dy)
// may be null to skip it.
void linear_backward(const float* dy, const MatView& x, const float* weight, int64_t out_features,
                     float* dx, float* grad_w, float* grad_b);
// ycol[j] += sum_i x[i * cols + j] for a contiguous (rows x cols) x.
void colsum_accumulate(const float* x, int64_t rows, int64_t cols, float* ycol);

// Inverted dropout, 0 <= p < 1: y = x * mask / (1 - p) with mask a pure function of (seed, flat
// index) -- the same for any thread count; backward regenerates it from the same seed. x may be
// null: y is then the scaled mask itself.
void dropout_forward(const float* x, float* y, int64_t n, double p, uint64_t seed);
void dropout_backward(const float* dy, float* dx, int64_t n, double p, uint64_t seed);

// Losses. Reductions as PyTorch: mean (for cross-entropy with class weights: divided by the sum
// of the targets' weights), sum, none.
enum class Reduction : int { none = 0, mean = 1, sum = 2 };
Reduction reduction_from_string(const std::string& s);  // "none" | "mean" | "sum"
struct CrossEntropyArgs {
  const float* logits = nullptr;  // rows x cols, contiguous
  int64_t rows = 0, cols = 0;
  const int64_t* target = nullptr;  // rows class indices
  const float* weight = nullptr;    // cols class weights or null
  float label_smoothing = 0.0f;
  Reduction reduction = Reduction::mean;
  const char* name = "CrossEntropyLoss";  // prefix of error messages
};
// Checks targets (std::invalid_argument naming the first bad index and its position); writes
// lse (rows) for the backward and the per-row losses (rows); returns the reduced loss (for
// reduction none: their sum).
double cross_entropy_forward(const CrossEntropyArgs& a, float* lse, float* row_loss);
// dx = d loss / d logits; grad_rows (rows, reduction none: the upstream gradient per row) may be
// null, meaning ones.
void cross_entropy_backward(const CrossEntropyArgs& a, const float* lse, const float* grad_rows,
                            float* dx);
// Pointwise losses over n elements (see PointwiseLoss in kernel_table.h); w may be null. Forward
// returns the sum (double, deterministic for any thread count) and writes per-element losses to
// out if non-null; backward writes dx = scale * (g ? g : 1) * dloss/dx.
double pointwise_loss_forward(const PointwiseLoss& l, const float* x, const float* t,
                              const float* w, int64_t n, float* out);
void pointwise_loss_backward(const PointwiseLoss& l, const float* x, const float* t,
                             const float* w, int64_t n, const float* g, float scale, float* dx);

// ---- window geometry (conv, transposed conv, pooling; float, quantized and sparse) ----
// csrc/frame/window.cpp. Every window hyper-parameter -- kernel size, stride, padding, dilation,
// output_padding, groups -- lies in [its minimum, kMaxWindowParam]: PyTorch takes any int64, but
// past 2**31 - 1 no window fits an array that can be allocated, and inside that range no padded
// size or dilated kernel can overflow int64 (every step is overflow-checked all the same).
constexpr int64_t kMaxWindowParam = 2147483647;
// std::invalid_argument "<op>: <name> must be in [lo, 2147483647], got v" unless lo <= v <= max.
void check_window_param(int64_t v, int64_t lo, const char* op, const char* name);
// One axis of a window over `size` >= 0 values (kernel >= 1, stride >= 1, padding >= 0,
// dilation >= 1, each range-checked): the number of whole windows,
//   (size + 2*padding - dilation*(kernel-1) - 1) / stride + 1,
// or 0 when not even one fits (the caller reports that with its own shapes).
int64_t window_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                   const char* op);
// window_out for pooling with ceil_mode: rounded up, then one less when the last window would
// start past the input and its left padding ((out - 1) * stride >= size + padding), as PyTorch.
int64_t pool_window_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                        int64_t dilation, bool ceil_mode, const char* op);
// The output extent of a transposed convolution along one axis,
//   (size - 1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1,
// with the hyper-parameters range-checked (output_padding >= 0 and smaller than stride or
// dilation, PyTorch's rule) and every step overflow-checked; may be < 1 (the caller reports it).
int64_t transposed_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation, int64_t output_padding, const char* op);

// ---- [layers: conv, pool, batchnorm] ----
// Geometry structs: fastnn/conv_params.h. Arrays are dense NCHW float32. Every driver checks its
// geometry first (std::invalid_argument naming the field, expected vs actual).
void conv2d_check_geom(const Conv2dGeom& g);
// How a convolution is computed (csrc/frame/conv2d.cpp):
//   automatic    the rule of conv2d_choose_algorithm (per call, from the shape; deterministic):
//                depthwise kernels for depthwise layers; Winograd F(4x4) for 3x3 stride-1 layers
//                with >= 3 input channels and >= max(64, nr * threads) output tiles; else
//                the direct kernel when the output channels fill its tile and the contraction
//                has >= 96 taps; else im2col
//   im2col       sgemm_driver with im2col packed straight into its B panels (dX: dcol GEMM + col2im);
//                a stride-1, groups-1 forward with a contraction cg*kh*kw <= 64 reads its im2col
//                rows in place from a padded copy instead (the f32_conv_taps_row leaf)
//   direct       the direct kernel reading the im2col operand in place from a padded copy of the
//                input (dX of a stride-1 conv: the same kernel on the flipped weights)
//   winograd     Winograd F(4x4, 3x3) (winograd_f2: F(2x2, 3x3)), 3x3 stride 1 dilation 1 groups 1
//                only; dX by Winograd too when padding <= 2 (the correlation's padding 2 - p),
//                dW always by the im2col weight-gradient GEMM.
//   depthwise    the per-plane depthwise kernels (groups == in_channels > 1); what automatic picks
//                for such a layer (the forced algorithms above run it as a grouped GEMM).
//   bf16         forward only (inference, Module.to_bf16()): the im2col GEMM with A and B rounded
//                to bfloat16 and float32 sums (GemmArgs::bf16); a depthwise layer stays float32
//                (the depthwise kernels are bound by memory, not by multiply-adds).
enum class ConvAlgo : int { automatic = 0, im2col = 1, direct = 2, winograd = 3, winograd_f2 = 4,
                            depthwise = 5, bf16 = 6 };
// Parses "auto", "im2col", "direct", "winograd", "winograd_f2", "bf16" (std::invalid_argument
// otherwise).
ConvAlgo conv_algo_from_name(const std::string& name);
const char* conv_algo_name(ConvAlgo a);
// Throws std::invalid_argument when `a` cannot run this geometry (Winograd: not 3x3 / stride 1 /
// dilation 1 / groups 1), naming the field. Reads only kh, kw, sh, sw, dh, dw, groups, c.
void conv2d_check_algorithm(ConvAlgo a, const Conv2dGeom& g);
// The algorithm `a` resolves to for this geometry (automatic -> a concrete one; others as given).
ConvAlgo conv2d_choose_algorithm(ConvAlgo a, const Conv2dGeom& g);
// Weights packed once for the algorithm conv2d_forward picks for a geometry (direct: the direct
// kernel's panels; im2col: the GEMM's A panels), so that repeated calls with the same, unchanged
// weights (the inference plan) skip the packing. conv2d_prepack returns null where that algorithm
// packs nothing reusable (taps, Winograd, depthwise, bf16). A prepacked set is used only where
// the call picks the same algorithm with the same kernel table (set_isa); otherwise, and for null,
// the call packs as usual. The caller keeps the weights unchanged while it passes the set.
struct ConvPrepacked;
std::shared_ptr<ConvPrepacked> conv2d_prepack(const float* w, const Conv2dGeom& g,
                                              ConvAlgo algo = ConvAlgo::automatic);
// Bytes held by a prepacked set (0 for null).
int64_t conv2d_prepack_bytes(const ConvPrepacked* pre);
// True when a call with this geometry and algorithm would use `pre` (false for null).
bool conv2d_prepack_fits(const ConvPrepacked* pre, const Conv2dGeom& g, ConvAlgo algo);
// y = conv(x, w) + bias (bias of length k, may be null) by the algorithm chosen from `algo`.
void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g, ConvAlgo algo = ConvAlgo::automatic,
                    const ConvPrepacked* pre = nullptr);
// Winograd F(m x m, 3 x 3), m = 2 or 4 (csrc/frame/conv2d_winograd.cpp); g must pass
// conv2d_check_algorithm(winograd). Each output tile is computed independently, so the result
// does not depend on the thread count.
void conv2d_winograd_forward(const float* x, const float* w, const float* bias, float* y,
                             const Conv2dGeom& g, int m);
// The adjoints of conv2d_forward; each output may be null (not wanted):
//   dx  = conv_transpose(dy, w) (+ dx_bias[channel] if given)      overwritten  (needs w)
//   dw += correlation of x with dy                                  accumulated  (needs x)
//   db += sum of dy over batch and pixels                           accumulated
// ConvTranspose2d's forward is the dx part with its bias as dx_bias.
void conv2d_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                     float* db, const Conv2dGeom& g, const float* dx_bias = nullptr,
                     ConvAlgo algo = ConvAlgo::automatic);
// ConvTranspose2d (csrc/frame/conv_transpose2d.cpp), with g the geometry of the conv it is the
// adjoint of (c = out channels, k = in channels, h x w = the layer's output): x is
// (n, k, xh, xw) with xh = g.oh and xw = g.ow, or smaller by the output rows / columns that an
// output_padding >= stride adds (no conv window starts in them); y and dy are (n, c, h, w).
//   y   = conv_transpose(x, w) + bias[channel] (bias may be null)      overwritten
//   dx  = conv(dy, w)                                                   overwritten
//   dw += correlation of dy with x;  db += sum of dy                    accumulated
void conv_transpose2d_forward(const float* x, int64_t xh, int64_t xw, const float* w,
                              const float* bias, float* y, const Conv2dGeom& g);
void conv_transpose2d_backward(const float* x, int64_t xh, int64_t xw, const float* dy,
                               const float* w, float* dx, float* dw, float* db,
                               const Conv2dGeom& g);
// out[ch] += sum of x[b][ch][:] over b < n (x is (n, c, plane)).
void channel_sum_accumulate(const float* x, int64_t n, int64_t c, int64_t plane, float* out);

void pool2d_check_geom(const Pool2dGeom& g);
// planes = batch * channels; each plane h x w -> oh x ow. argmax: flat index in the input plane,
// or null when only the values are wanted (inference: 2x2 stride-2 windows then take a faster
// path).
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

// 2-D padding of planes h x w by (top, bottom, left, right) >= 0: mode 0 constant `value`,
// 1 reflect (mirror without the edge; each pad < the extent), 2 replicate (the edge repeated),
// 3 circular (the opposite edge's cells; each pad <= the extent). Backward: the adjoint (dx = the
// interior of dy, plus the padded cells added back onto the input cells they copied, for
// reflect/replicate/circular). Checks throw std::invalid_argument.
struct Pad2d {
  int64_t h = 0, w = 0, top = 0, bottom = 0, left = 0, right = 0;
  int mode = 0;
  float value = 0.0f;
};
void pad2d_check(const Pad2d& p);
void pad2d_forward(const float* x, int64_t planes, const Pad2d& p, float* y);
void pad2d_backward(const float* dy, int64_t planes, const Pad2d& p, float* dx);

// Local response normalisation across channels over x (n, c, inner) (frame/lrn.cpp):
// scale = k + alpha / size * (sum of x^2 over channels ch - before .. ch + size - 1 - before,
// zero-padded), y = x * scale^-beta. PyTorch centres with before = size / 2, ONNX's LRN with
// (size - 1) / 2. scale (n, c, inner) may be null; the backward needs it.
void lrn_check(int64_t n, int64_t c, int64_t inner, int64_t size, int64_t before, float alpha,
               float beta, float k);
void lrn_forward(const float* x, int64_t n, int64_t c, int64_t inner, int64_t size, int64_t before,
                 float alpha, float beta, float k, float* y, float* scale);
void lrn_backward(const float* dy, const float* x, const float* scale, int64_t n, int64_t c,
                  int64_t inner, int64_t size, int64_t before, float alpha, float beta, float k,
                  float* dx);

// Resize of planes (ih, iw) -> (oh, ow) with PyTorch's index rules (frame/resize.cpp): modes
// nearest (floor(d * scale)), nearest-exact (floor((d + 0.5) * scale)), bilinear (align_corners
// or the half-pixel rule clamped at 0). scale_h / scale_w: the user's scale factor (> 0; the
// source step is 1 / factor) or 0 (the step is in / out). The backward overwrites dx.
constexpr int kResizeNearest = 0, kResizeNearestExact = 1, kResizeBilinear = 2;
struct Resize2d {
  int64_t ih = 0, iw = 0, oh = 0, ow = 0;
  int mode = kResizeNearest;
  bool align_corners = false;
  double scale_h = 0.0, scale_w = 0.0;
};
void resize2d_check(const Resize2d& r);
void resize2d_forward(const float* x, int64_t planes, const Resize2d& r, float* y);
void resize2d_backward(const float* dy, int64_t planes, const Resize2d& r, float* dx);

// Depth <-> space (frame/resize.cpp): depth (n, c * block^2, h, w) <-> space (n, c, h * block,
// w * block), space[ch, hh * block + i, ww * block + j] = depth[k, hh, ww] with
// k = (ch * block + i) * block + j (CRD: PixelShuffle) or (i * block + j) * c + ch (DCR).
// to_space: src is depth, dst space; otherwise the inverse. A permutation: dst overwritten.
void depth_space_check(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block);
void depth_space(const float* src, int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                 bool dcr, bool to_space, float* dst);

// Batch norm over x (n, c, inner): statistics per channel over n * inner values.
// Training: biased variance normalises; running_var is updated with the unbiased one,
// running = (1 - momentum) * running + momentum * batch (running_* may be null: not tracked).
// gamma/beta may be null (affine=False). save_mean/save_invstd (c) feed the backward.
// act: an activation applied to y in the same pass (the ReLU after a batch norm, fused in
// training; the backward is the activation's, then this one's, unchanged: it reads x, not y).
void batchnorm_forward_train(const float* x, int64_t n, int64_t c, int64_t inner,
                             const float* gamma, const float* beta, float eps, float momentum,
                             float* running_mean, float* running_var, float* y, float* save_mean,
                             float* save_invstd, Epilogue act = Epilogue{});
// Eval: normalise with the running statistics; also writes save_mean/save_invstd from them (each
// may be null: not wanted). y may alias x.
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
// Fused optimizer steps (frame/optim.cpp). A descriptor table (one OptimParam per parameter, in
// the optimizer's order) is built once by the binding; every step is one threaded pass over the
// flat index space of all active parameters. Formulas: fastnn/optim_params.h.
// fastnn._C.OptimKind; labels name the optimizer in messages (Adam with decoupled decay: AdamW).
#define FASTNN_OPTIM_KIND_LIST(X) \
  X(sgd, 0, "SGD") X(adagrad, 1, "Adagrad") X(rmsprop, 2, "RMSprop") X(adam, 3, "Adam")
FASTNN_DEFINE_ENUM(OptimKind, FASTNN_OPTIM_KIND_LIST)

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
// Bound as fastnn._C.OptimHyper with these field names; check_optim_group checks them.
// One X(type, name) per field: the struct and its binding's fields and keywords come from it.
#define FASTNN_OPTIM_GROUP_FIELDS(X)                                                        \
  X(double, lr) X(double, weight_decay) X(double, l1) X(double, max_norm) X(double, momentum) \
  X(double, dampening) X(double, alpha) X(double, beta1) X(double, beta2) X(double, eps)      \
  X(double, lr_decay) X(bool, nesterov) X(bool, centered) X(bool, amsgrad) X(bool, decoupled)
struct OptimGroup {
#define FASTNN_OPTIM_FIELD_(type, name) type name = type();
  FASTNN_OPTIM_GROUP_FIELDS(FASTNN_OPTIM_FIELD_)
#undef FASTNN_OPTIM_FIELD_
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
// u8 x s8 -> s32 GEMM with exact int32 accumulation and a fused requantisation epilogue.
// Weights (n x k int8, the Linear (out, in) layout) are packed once into the layout of
// kernel_table.h (ISA-independent), with their column sums for the activation zero point.
constexpr int64_t kS8MaxK = 65536;  // k * 255 * 128 < 2^31: the int32 accumulator cannot overflow
struct S8PackedWeights {
  int64_t n = 0, k = 0, kg = 0;     // kg = ceil(k / 4)
  int nr = kS8NR, kgroup = kS8KG;   // layout of the packed panels
  Isa isa = Isa::generic;           // table active when packed (informational: layout is shared)
  // ceil(n / nr) panels of kg * nr * kgroup bytes, starting 64-byte aligned at storage + offset.
  std::vector<int8_t> storage;
  size_t offset = 0, bytes = 0;
  const int8_t* data() const { return storage.data() + offset; }
  std::vector<int32_t> colsum;      // sum over k of w[j][:], per output column j
};
// w(j, p) = w[j * rs + p * cs] for j < n, p < k. Throws for k > kS8MaxK or negative sizes.
S8PackedWeights pack_weights_s8(const int8_t* w, int64_t n, int64_t k, int64_t rs, int64_t cs);
// Inverse of the packing: writes the n x k row-major weights.
void unpack_weights_s8(const S8PackedWeights& p, int8_t* w);

struct S8GemmArgs {
  const uint8_t* a = nullptr;  // m x k activations, a(i, p) = a[i * a_rs + p * a_cs]
  int64_t m = 0, k = 0, a_rs = 0, a_cs = 1;
  int za = 0;                  // activation zero point, 0..255
  const S8PackedWeights* b = nullptr;
  const int32_t* bias_i32 = nullptr;  // n, added to the integer accumulator (may be null)
  S8Out out = S8Out::s32;
  void* c = nullptr;           // m x n of the output dtype, row stride ldc (elements)
  int64_t ldc = 0;
  // f32: c = scale_a * scale_b[j] * acc' + bias_f32[j]            (ReLU optional)
  // u8 : c = sat_u8(round_half_even((scale_a * scale_b[j] * acc' + bias_f32[j]) / scale_out) + z_out)
  //      with ReLU clamping at z_out. acc' = sum_p (a(i,p) - za) * w(j,p) + bias_i32[j].
  //      Float32 arithmetic, identical on every ISA: see docs/int8_gemm.md.
  float scale_a = 1.0f;
  const float* scale_b = nullptr;     // n (required for f32 / u8)
  const float* bias_f32 = nullptr;    // n (may be null)
  float scale_out = 1.0f;
  int z_out = 0;
  bool relu = false;
  int pack_a = -1;             // -1: auto (read A in place when rows are contiguous and k % 4 == 0)
                               // 1: always pack A; 0: never (throws if A cannot be read in place)
  int threads = 0;             // 0: get_num_threads(); 1: serial (callers already in a parallel
                               // region, e.g. the quantized convolution's row chunks)
};
void gemm_u8s8(const S8GemmArgs& args);

// Quantized tensors and layers (frame/quant.cpp, frame/quant_layers.cpp; docs/quantization.md).
// Activations are uint8 with one (scale, zero point) per tensor; 4-D tensors are NHWC.
struct QParamsU8 {
  float scale = 1.0f;
  int zero_point = 0;
};
// The asymmetric uint8 parameters of a range: lo = min(lo, 0), hi = max(hi, 0) (zero must be
// exact: padding and ReLU), scale = max((hi - lo) / 255, kMinScale) rounded to float32,
// zero_point = clamp(round_half_even(-lo / scale), 0, 255). The floor kQuantMinScale (float32
// epsilon, as PyTorch's observers) covers hi == lo == 0. Throws for non-finite bounds.
constexpr float kQuantMinScale = 1.1920928955078125e-07f;
QParamsU8 choose_qparams_u8(double lo, double hi);
// Elementwise (contiguous, threaded); formulas in kernel_table.h (f32_quantize_u8_fn).
void quantize_u8(const float* x, uint8_t* q, int64_t n, QParamsU8 p);
void dequantize_u8(const uint8_t* q, float* x, int64_t n, QParamsU8 p);
// Layout-changing forms for 4-D tensors: NCHW float (n, c, hw) <-> NHWC u8 (n, hw, c).
void quantize_u8_to_nhwc(const float* x, uint8_t* q, int64_t n, int64_t c, int64_t hw,
                         QParamsU8 p);
void dequantize_u8_from_nhwc(const uint8_t* q, float* x, int64_t n, int64_t c, int64_t hw,
                             QParamsU8 p);
// Min and max over n >= 1 floats (threaded); throws std::invalid_argument naming `name` when a
// value is NaN.
void minmax_f32(const float* x, int64_t n, float* lo, float* hi, const char* name);
// Dynamic quantization of one tensor: its min/max, choose_qparams_u8, quantize_u8. Returns the
// parameters used.
QParamsU8 quantize_u8_dynamic(const float* x, uint8_t* q, int64_t n);
// hist (bins) += histogram of x (|x| when absval) over [lo, hi] in equal bins; values outside
// are counted in the first / last bin, NaN skipped. Threaded; the counts do not depend on threads.
void histogram_f32(const float* x, int64_t n, double lo, double hi, int64_t bins, bool absval,
                   int64_t* hist);
// KL-divergence calibration (TensorRT's, as MXNet's _get_optimal_threshold on |x|): over a
// histogram of |x| in `bins` equal bins, the number i in [nq, bins] of leading bins whose clipped
// distribution P (outliers folded into bin i-1) is best approximated, in KL(P || Q), by its
// quantization Q to nq levels. The threshold is i * bin_width.
int64_t entropy_calibration_bins(const int64_t* hist, int64_t bins, int64_t nq);
// Symmetric int8 weights: scale = max|w| / 127 per row (per_channel) or over all of w, 1 where
// that is 0 (floored at 1e-30); q = clamp(nearbyint(w * (1 / scale)), -127, 127). w and q
// are (n, k) row-major; scales has n entries (all equal when !per_channel). Throws for NaN/inf.
void quantize_weights_s8(const float* w, int64_t n, int64_t k, bool per_channel, int8_t* q,
                         float* scales);
// u8 NHWC max pooling (padding never wins: as -inf; padding <= kernel / 2) and global average
// pooling (y[n][c] = round_half_even(sum / (h*w)), the same scale and zero point as x).
// The pooling window (dilation 1); its oh, ow are not read (the frame computes them).
using U8Pool = Window2d;
void maxpool2d_u8_nhwc(const uint8_t* x, int64_t n, int64_t h, int64_t w, int64_t c,
                       const U8Pool& p, uint8_t* y);
void global_avgpool_u8_nhwc(const uint8_t* x, int64_t n, int64_t hw, int64_t c, uint8_t* y);
// The checks of a u8 convolution geometry (the image non-empty, every window hyper-parameter in
// range, a window fitting, oh/ow = out_size, k = kh*kw*c, kp >= k): std::invalid_argument naming
// the argument. im2col_u8_nhwc and conv2d_u8_nhwc run it; bindings call it before allocating.
void conv2d_u8_check_geom(const U8ConvGeom& g);
// im2col rows of n NHWC images (tests and the convolution): (n * oh * ow) x g.kp bytes.
void im2col_u8_nhwc(const U8ConvGeom& g, const uint8_t* x, int64_t n, uint8_t* dst);
// Quantized convolution, NHWC u8 in, NHWC out (u8 or f32): out[n, oy, ox, :] is the int8 GEMM of
// its im2col row with the packed weights (out_channels x kp, rows laid out as the im2col rows),
// with `ep`'s epilogue fields (za, scale_a, scale_b, bias_f32, out, scale_out, z_out, relu; a, m,
// k, c and threads are set per chunk). A 1x1 stride-1 unpadded convolution reads x in place
// (packed k == c); otherwise im2col runs per chunk of rows into a per-thread buffer that stays
// in L2, and each chunk is one serial GEMM call (results do not depend on the thread count).
// pool (uint8 output only): a max pooling fused behind the convolution -- applied to each chunk's
// output while it is in L2 (chunks are then whole images); out is the pooled NHWC tensor. Exact:
// max commutes with the monotone requantisation, so the bits equal convolution then pooling.
void conv2d_u8_nhwc(const uint8_t* x, int64_t n, const U8ConvGeom& g, const S8GemmArgs& ep,
                    void* out, const U8Pool* pool = nullptr);

// ---- [sparse / prune] ----
// A compressed sparse row matrix (W: rows = outputs, cols = inputs, like a Linear weight). Row o
// holds entries [row_ptr[o], row_ptr[o+1]) with strictly increasing col and their values.
struct CsrView {
  int64_t rows = 0, cols = 0;
  const int64_t* row_ptr = nullptr;  // rows + 1 offsets, row_ptr[0] == 0
  const int32_t* col = nullptr;
  const float* val = nullptr;
  int64_t nnz() const { return rows > 0 ? row_ptr[rows] : 0; }
};
struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> col;
  std::vector<float> val;
  int64_t nnz() const { return static_cast<int64_t>(val.size()); }
  int64_t nbytes() const;  // as stored: values + indices + row offsets
  CsrView view() const;
};
// Entries with |w| > threshold are kept (threshold 0: exact zeros dropped; NaN is always kept).
// Throws for threshold < 0 or NaN, or more than 2^31-1 columns.
CsrMatrix csr_from_dense(const MatView& w, float threshold);
// Takes ownership of CSR arrays after validating them (offsets from 0, non-decreasing, ending at
// nnz; columns in range and strictly increasing within a row).
CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, std::vector<int64_t> row_ptr,
                          std::vector<int32_t> col, std::vector<float> val);
// Writes the dense rows x cols matrix (row stride ld).
void csr_to_dense(const CsrView& w, float* out, int64_t ld);
// Y[b, o] = act(sum_i X[b, i] * W[o, i] + bias[o]): x is batch x w.cols (any strides), y has row
// stride ldy >= w.rows. bias (length w.rows) may be null. ep.act: none or relu.
void sparse_linear(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy);
// Y[o, j] = act(sum_i W[o, i] * X[i, j] + bias[o]): x is w.cols x n (any strides; an im2col
// matrix of a convolution), y has row stride ldy >= n. bias may be null. ep.act: none or relu.
void sparse_matmul(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy);
// Geometry of a convolution served by a sparse weight (NCHW, groups 1): input c x h x w, kernel
// kh x kw, stride sh x sw, zero padding ph x pw, dilation dh x dw, output oh x ow.
struct SparseConvShape : Window2d {
  int64_t c = 0, h = 0, w = 0;
};
// For each of n images: y[b] (w.rows x oh*ow) = act(W @ im2col(x[b]) + bias[:, None]). W is a
// CSR weight (out_channels x c*kh*kw) whose column (ci*kh + ky)*kw + kx is tap (ky, kx) of input
// channel ci (a Conv2d weight reshaped); x (n x c x h x w) and y (n x w.rows x oh x ow) are
// contiguous. bias may be null; ep.act: none or relu. Throws for a geometry that does not match.
void sparse_conv2d(const CsrView& w, const float* x, int64_t n, const SparseConvShape& s,
                   const float* bias, const Epilogue& ep, float* y);

// Pruning (csrc/frame/prune.cpp). Masks are float32 0/1 arrays shaped like their weight.
// x[i] *= mask[i], i < n (threads over chunks): pruned entries become exact zeros.
void mask_apply(float* x, const float* mask, int64_t n);
// One weight of a magnitude-pruning selection: n entries w, their current mask (null: none) and
// the mask to write (out, n entries; may alias mask).
struct PruneTensor {
  const float* w = nullptr;
  const float* mask = nullptr;
  float* out = nullptr;
  int64_t n = 0;
};
// Writes the out masks of all tensors taken together: entries already pruned (mask == 0) stay
// pruned, and the unpruned entries of smallest |w| are added until n_zero entries are pruned
// (ties: the earlier tensor, then the lower index; NaN ranks above +inf). If n_zero is at most
// the count already pruned, nothing is added. Returns the number of pruned entries.
// Throws for n_zero outside [0, total entries].
int64_t magnitude_masks(const std::vector<PruneTensor>& tensors, int64_t n_zero);
// norms[r] = sum_j |w[r*cols + j]| (p == 1) or sqrt(sum_j w[r*cols + j]^2) (p == 2), r < rows:
// the norm of each output unit's incoming weights. Throws for another p.
void row_norms(const float* w, int64_t rows, int64_t cols, int p, double* norms);

// Layer norm over `cols` values per row (frame/layernorm.cpp): y = (x - mean) * rstd * weight +
// bias (weight / bias may be null), statistics in double over two passes; mean / rstd (rows, kept
// in double: a float mean of a row at 1e4 would cost the backward four digits) may be null.
// Backward: dx (may be null) and dweight / dbias accumulated (may be null), reduced in an order
// that does not depend on the thread count.
void layernorm_check(int64_t rows, int64_t cols, float eps);
void layernorm_forward(const float* x, const float* weight, const float* bias, int64_t rows,
                       int64_t cols, float eps, float* y, double* mean, double* rstd);
void layernorm_backward(const float* dy, const float* x, const double* mean, const double* rstd,
                        const float* weight, int64_t rows, int64_t cols, float* dx,
                        float* dweight, float* dbias);

// Embedding (frame/embedding.cpp): y (n, dim) = weight[idx]; the backward scatter-adds dy into
// dweight (num, dim) except row padding_idx (-1: none), deterministically at any thread count.
// embedding_check throws for an index outside [0, num), naming `input` and the bad value.
void embedding_check(const int64_t* idx, int64_t n, int64_t num, int64_t dim);
void embedding_forward(const int64_t* idx, int64_t n, const float* weight, int64_t num,
                       int64_t dim, float* y);
// scale_by_freq: each row's sum divided by how often idx names it (PyTorch's scale_grad_by_freq).
void embedding_backward(const float* dy, const int64_t* idx, int64_t n, int64_t num, int64_t dim,
                        int64_t padding_idx, bool scale_by_freq, float* dweight);
// PyTorch's max_norm: each row idx names whose norm_type-norm (> 0, or inf) exceeds max_norm is
// scaled in place by max_norm / (norm + 1e-7) (each row once, whatever its count in idx).
void embedding_renorm(const int64_t* idx, int64_t n, float* weight, int64_t num, int64_t dim,
                      double max_norm, double norm_type);

// Reductions of x (outer, r, inner) over r (frame/reduce.cpp): op 0 sum, 1 mean, 2 max, 3 min
// (NaN propagates; r == 0 refused), 4 prod, 5 sum of squares, 6 L1, 7 L2, 8 logsumexp. Backward:
// max / min split dy evenly over the positions equal to y.
void reduce_check(int64_t outer, int64_t r, int64_t inner, int op);
void reduce_forward(const float* x, int64_t outer, int64_t r, int64_t inner, int op, float* y);
void reduce_backward(const float* dy, const float* x, const float* y, int64_t outer, int64_t r,
                     int64_t inner, int op, float* dx);

}  // namespace fastnn
