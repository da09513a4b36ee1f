// 2-D convolution drivers (NCHW): checks, choice of algorithm, threading.
//
// The im2col operand is read in place from a zero-padded copy of the input in "padded-width"
// layout (conv2d_parts.h), where each im2col row is a strided (for stride 1 contiguous) slice:
//   forward  the direct kernel (conv2d_direct.cpp): tiles of output pixels x output channels,
//            the im2col operand never packed; weights packed once per call.
//   dX       stride 1: the correlation of dY with the flipped kernel, by the same direct kernel.
//            Otherwise (other strides, or few input channels that would fill little of the
//            tile) dcol (K x pixels) = W^T @ dY by sgemm_driver, then col2im (for stride 1 in
//            gather form by the f32_col2im_row leaf).
//   dW       dW^T (K x kg) += col @ dY^T, the contraction running over the output pixels of a
//            chunk of images: dY^T is packed into panels (f32_transpose_rows), the im2col rows
//            are read in place by the f32_conv_wgrad_ukr leaf. K x kg keeps the long side (taps)
//            in M, where the register tile wastes least.
// Few output channels: Y (kg x pixels) = W @ col per image by sgemm_driver, B panels gathered
// from the image by Im2col::pack_b. Depthwise (groups == in_channels): direct per-plane leaves.
// Threads: over images when the batch keeps every thread busy (each GEMM then runs single-threaded
// inside an inactive nested region), otherwise images in turn with the work of each image shared.
// dW goes to per-thread buffers summed in thread order (same bits for a given thread count).
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv2d_parts.h"
#include "gemm_bf16.h"

namespace fastnn {

using namespace conv;

namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string pair(int64_t a, int64_t b) { return "(" + str(a) + ", " + str(b) + ")"; }

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// Inputs of a chunk of images are prepared for about this many bytes at a time.
constexpr int64_t kChunkBytes = 512 * 1024;

int64_t chunk_images(int64_t bytes_per_image, int64_t images) {
  const int64_t c = kChunkBytes / std::max<int64_t>(1, bytes_per_image);
  return std::max<int64_t>(1, std::min(c, std::max<int64_t>(images, 1)));
}

// The direct kernel puts channels in the tile's columns: worth it when they fill at least half.
bool fills_tile(int64_t channels, int nr) {
  const int64_t cols = (channels + nr - 1) / nr * nr;
  return 2 * channels >= cols;
}

// x[i][ch][:] += bias[ch] for the n x c planes of x.
void add_channel_bias(float* x, int64_t n, int64_t c, int64_t plane, const float* bias) {
  const int64_t planes = n * c;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(planes, 1)));
  const auto affine = kernels().f32_row_affine;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t q = 0; q < planes; ++q) affine(x + q * plane, x + q * plane, plane, 1.0f, bias[q % c]);
}

// dX of a stride-1 conv is the correlation of dY with the kernel flipped and transposed: the
// conv with weights (c, kg, kh, kw) and padding dilation*(k-1) - padding, whose input is dY.
struct Correlation {
  std::vector<float> wf;
  Conv2dGeom gt;
};

// The geometry of that conv.
Conv2dGeom correlation_geom(const Conv2dGeom& g) {
  Conv2dGeom gt = g.transposed_plane();
  gt.c = g.k;
  gt.k = g.c;
  return gt;
}

Correlation correlation(const float* w, const Conv2dGeom& g) {
  const int64_t kg = g.kg(), cg = g.cg(), taps = g.kh * g.kw;
  std::vector<float> wf(static_cast<size_t>(g.c * kg * taps));
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t o = 0; o < kg; ++o)
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t r = 0; r < taps; ++r)
          wf[((grp * cg + ci) * kg + o) * taps + (taps - 1 - r)] =
              w[((grp * kg + o) * cg + ci) * taps + r];
  return {std::move(wf), correlation_geom(g)};
}

bool winograd_shape(const Conv2dGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.groups == 1;
}

// Where automatic picks Winograd F(4x4, 3x3) (measured with bench/compare.py winograd and a
// sweep on a quiet 2-core AVX2 machine, docs/kernels.md): it beat the direct kernel and im2col
// from 3 input channels up (1.2-1.9x; 5x against im2col with 3-8 output channels), lost with 1-2
// input channels (its transforms then outweigh the products), and lost when the tiles are few:
// one panel of nr tiles per thread is needed to use every thread, and below ~64 tiles the
// per-call filter transform (alpha^2 / 9 = 4x the weights, in double) costs more than it saves
// (512 -> 512 channels at 7x7, batch 8: 0.6x).
bool winograd_pays(const Conv2dGeom& g) {
  if (!winograd_shape(g)) return false;
  const int64_t tiles = g.n * ((g.oh + 3) / 4) * ((g.ow + 3) / 4);
  return g.c >= 3 &&
         tiles >= std::max<int64_t>(64, int64_t(kernels().f32_nr) * get_num_threads());
}

constexpr int64_t kDirectMinTaps = 96;

// A contraction this short (cg*kh*kw: the 1- to 7-channel first layers of a CNN) at stride 1
// runs through the taps leaf: output rows read in place from a zero-padded copy of the image,
// 8 output channels per pass in registers. Its GEMM would be mostly packing: the im2col B panels
// cost more than the 9 to 63 multiply-adds per element they feed (MNIST conv 1 -> 32 at 28x28:
// 25 GFLOP/s by im2col, one thread).
constexpr int64_t kTapsMax = 64;
// Output planes (pixels) from which a long pointwise convolution runs as a plain GEMM.
constexpr int64_t kPointwiseGemmPlane = 784;

bool taps_fits(const Conv2dGeom& g) { return g.sw == 1 && g.groups == 1 && g.kdim() <= kTapsMax; }

// A 1x1 stride-1 convolution with large planes is a plain GEMM over the planes: forward (with a
// contraction past the taps path's: B panels packed from the input planes) and for dX (W^T @ dY
// written straight into dx, any channel counts). Measured on one thread of a Xeon: forward
// 256->64 at 56x56 89.5 GFLOP/s against the direct kernel's 51 (batch 8), 128->512 and 512->128
// at 28x28 160 / 132 against 130 / 101; dX 256 -> 64 at 56x56, batch 8, 5.5 ms against 6.6
// (direct) and 7.3 (dcol + col2im), 64 -> 256 5.7 against 8.7. At 14x14 and 7x7 the direct
// kernel stays ahead (bench/compare.py layers, docs/kernels.md).
bool pointwise_planes(const Conv2dGeom& g) {
  return g.is_pointwise() && g.out_plane() >= kPointwiseGemmPlane;
}

void taps_forward(const float* x, const float* w, const float* bias, float* y, const Conv2dGeom& g) {
  const PaddedWidth pw(g);
  const int64_t per = pw.buffer_size(g.c), in = g.c * g.h * g.w, P = g.out_plane();
  std::vector<float> pad(static_cast<size_t>(g.n * per));
  const auto leaf = kernels().f32_conv_taps_row;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), g.n * g.oh));
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < g.n; ++i) pw.pad(x + i * in, g, g.c, pad.data() + i * per);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < g.n * g.oh; ++r) {
      const int64_t i = r / g.oh, oy = r % g.oh;
      leaf(pad.data() + i * per + oy * g.sh * pw.wp, pw.off.data(), g.kdim(), w, bias, g.k, g.ow,
           y + i * g.k * P + oy * g.ow, P);
    }
  }
}

bool is_winograd(ConvAlgo a) { return a == ConvAlgo::winograd || a == ConvAlgo::winograd_f2; }

// A strided convolution (sh == sw = s > 1, dilation 1) as a stride-1 one over phase planes: the
// zero-padded input split into s x s planes, plane (a, b) holding padded rows a, a+s, ... and
// columns b, b+s, ...; tap (ch, ki, kj) then reads plane (ki % s, kj % s) from row ki / s and
// column kj / s, so in padded-width columns (pixel j = oy * wp2 + ox) the taps of consecutive
// pixels are contiguous runs, as PaddedWidth gives for stride 1. Columns ox >= ow are computed
// and discarded. Only the planes some tap reads are filled (a 1x1 stride-2 layer: one).
struct PhaseSplit {
  int64_t s = 1, hp2 = 0, wp2 = 0, plane2 = 0, pcols = 0, size = 0;
  std::vector<int64_t> off;

  explicit PhaseSplit(const Conv2dGeom& g) : s(g.sh) {
    hp2 = std::max((g.h + 2 * g.ph + s - 1) / s, g.oh + (g.kh - 1) / s);
    wp2 = std::max((g.w + 2 * g.pw + s - 1) / s, g.ow + (g.kw - 1) / s);
    plane2 = hp2 * wp2;
    pcols = g.oh * wp2;
    size = g.cg() * s * s * plane2 + wp2 + 32;  // the last runs' discarded columns read past
    off.resize(static_cast<size_t>(g.kdim()));
    for (int64_t p = 0; p < g.kdim(); ++p) {
      const int64_t ch = p / (g.kh * g.kw), ki = p % (g.kh * g.kw) / g.kw, kj = p % g.kw;
      off[p] = ((ch * s + ki % s) * s + kj % s) * plane2 + (ki / s) * wp2 + kj / s;
    }
  }
  // dst (size floats) = the planes of one image's cg channels x.
  void fill(const float* x, const Conv2dGeom& g, float* dst) const {
    std::fill(dst, dst + size, 0.0f);
    for (int64_t ch = 0; ch < g.cg(); ++ch)
      for (int64_t a = 0; a < std::min(s, g.kh); ++a)
        for (int64_t b = 0; b < std::min(s, g.kw); ++b) {
          float* d = dst + ((ch * s + a) * s + b) * plane2;
          for (int64_t r = 0; r < hp2; ++r) {
            const int64_t iy = r * s + a - g.ph;
            if (iy < 0 || iy >= g.h) continue;
            const float* row = x + (ch * g.h + iy) * g.w;
            for (int64_t t = 0; t < wp2; ++t) {
              const int64_t ix = t * s + b - g.pw;
              if (ix >= 0 && ix < g.w) d[r * wp2 + t] = row[ix];
            }
          }
        }
  }
};

// The bf16 forward (ConvAlgo::bf16; kernel_table.h "[bf16 GEMM]"). On AMX, a convolution with
// a contraction past the taps path's, stride 1 or (dilation 1) equal strides: W @ col per image
// and group, the taps of 32 consecutive padded-width pixels being contiguous runs of the padded
// input (PaddedWidth) or of its phase planes (PhaseSplit), rounded and paired straight into the
// panel (bf16_amx_pack_taps); the product covers oh * (row length) columns and the discarded
// ones are dropped when copying out.
// Elsewhere (no AMX, dilated strided, or a short contraction): float32 kernels on copies of x and w
// rounded to bf16 -- the same arithmetic, as a bf16 x bf16 product is exact in float32 -- but
// not Winograd, whose transforms would round sums of operands. Measured against the bf16 GEMM
// on im2col panels (Xeon, batch 64, 2 threads): a strided 16 -> 32 at 32x32 0.97 ms (direct)
// against 1.81, 1 -> 32 at 28x28 (taps) 1.2 against 2.05 (batch 256); VDPBF16PS and the
// emulations lost to the FMA kernels on every convolution measured.
void bf16_forward(const float* x, const float* w, const float* bias, float* y,
                  const Conv2dGeom& g) {
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  const bool strided = g.sh > 1 && g.sh == g.sw && g.dh == 1 && g.dw == 1;
  if (bf16_use_amx() && !taps_fits(g) && ((g.sh == 1 && g.sw == 1) || strided)) {
    std::vector<AmxA> wbf;
    for (int64_t grp = 0; grp < g.groups; ++grp)
      wbf.emplace_back(MatView{w + grp * kg * K, kg, K, K, 1}, true);
    const int slots = image_slots(g.n);
    // The input in padded-width form: PaddedWidth (stride 1; the image itself for an unpadded
    // 1x1) or PhaseSplit (strided); offsets of the taps, columns per row, columns in all.
    const PaddedWidth pw(g);
    std::optional<PhaseSplit> ps;
    if (strided) ps.emplace(g);
    const bool in_place = !strided && pw.direct;
    const int64_t row = strided ? ps->wp2 : pw.wp, cols = strided ? ps->pcols : pw.pcols;
    const int64_t* off = strided ? ps->off.data() : pw.off.data();
    const int64_t xp_size = in_place ? 0 : strided ? ps->size : pw.buffer_size(cg) + 32;
    const int64_t tmp_size = row > g.ow ? kg * cols : 0;
    std::vector<float> work(static_cast<size_t>(slots * (xp_size + tmp_size)));
    for_image_ranges(g.n, slots, [&](int slot, int64_t lo, int64_t hi) {
      float* xp = work.data() + slot * (xp_size + tmp_size);
      float* tmp = xp + xp_size;
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          const float* xg = x + (i * g.c + grp * cg) * HW;
          const float* src = xg;
          if (strided) {
            ps->fill(xg, g, xp);
            src = xp;
          } else if (!in_place) {
            pw.pad(xg, g, cg, xp);
            std::fill(xp + pw.buffer_size(cg), xp + xp_size, 0.0f);
            src = xp;
          }
          float* yg = y + (i * g.k + grp * kg) * P;
          float* out = tmp_size ? tmp : yg;
          const int64_t steps = wbf[grp].kp / 2;
          bf16_amx_gemm(
              wbf[grp], cols,
              [&](int64_t j0, int64_t nn, float* dst) {
                avx512::bf16_amx_pack_taps(src, off, K, j0, nn, steps,
                                           reinterpret_cast<uint32_t*>(dst));
              },
              out, cols, 1.0f, 0.0f, nullptr, Epilogue{}, slots == 1, true);
          if (tmp_size)
            for (int64_t r = 0; r < kg; ++r)
              for (int64_t oy = 0; oy < g.oh; ++oy)
                std::memcpy(yg + r * P + oy * g.ow, tmp + r * cols + oy * row,
                            sizeof(float) * g.ow);
          if (bias) add_channel_bias(yg, 1, kg, P, bias + grp * kg);
        }
    });
    return;
  }
  const int64_t nx = g.n * g.c * HW, nw = g.k * K;
  aligned_ptr<float> xr = aligned_alloc_array<float>(static_cast<size_t>(nx));  // (uninitialised)
  aligned_ptr<float> wr = aligned_alloc_array<float>(static_cast<size_t>(nw));
  bf16_round_array(x, xr.get(), nx);
  bf16_round_array(w, wr.get(), nw);
  ConvAlgo algo = conv2d_choose_algorithm(ConvAlgo::automatic, g);
  if (is_winograd(algo))
    algo = fills_tile(kg, kernels().conv_nr) ? ConvAlgo::direct : ConvAlgo::im2col;
  conv2d_forward(xr.get(), wr.get(), bias, y, g, algo);
}

}  // namespace

ConvAlgo conv_algo_from_name(const std::string& name) {
  for (ConvAlgo a : {ConvAlgo::automatic, ConvAlgo::im2col, ConvAlgo::direct, ConvAlgo::winograd,
                     ConvAlgo::winograd_f2, ConvAlgo::bf16})
    if (name == conv_algo_name(a)) return a;
  throw std::invalid_argument(
      "algorithm: expected one of 'auto', 'im2col', 'direct', 'winograd', 'winograd_f2', 'bf16', "
      "got '" + name + "'");
}

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::automatic: return "auto";
    case ConvAlgo::im2col: return "im2col";
    case ConvAlgo::direct: return "direct";
    case ConvAlgo::winograd: return "winograd";
    case ConvAlgo::winograd_f2: return "winograd_f2";
    case ConvAlgo::depthwise: return "depthwise";
    case ConvAlgo::bf16: return "bf16";
  }
  return "?";
}

void conv2d_check_algorithm(ConvAlgo a, const Conv2dGeom& g) {
  if (a == ConvAlgo::depthwise)
    require(g.is_depthwise(), "algorithm: 'depthwise' needs groups == in_channels > 1, got "
                              "groups " + str(g.groups) + " with in_channels " + str(g.c));
  if (!is_winograd(a)) return;
  const std::string what = std::string("algorithm '") + conv_algo_name(a) + "': needs ";
  require(g.kh == 3 && g.kw == 3, what + "kernel_size (3, 3), got " + pair(g.kh, g.kw));
  require(g.sh == 1 && g.sw == 1, what + "stride (1, 1), got " + pair(g.sh, g.sw));
  require(g.dh == 1 && g.dw == 1, what + "dilation (1, 1), got " + pair(g.dh, g.dw));
  require(g.groups == 1, what + "groups 1, got " + str(g.groups));
}

ConvAlgo conv2d_choose_algorithm(ConvAlgo a, const Conv2dGeom& g) {
  if (a == ConvAlgo::bf16 && g.is_depthwise()) return ConvAlgo::depthwise;
  if (a != ConvAlgo::automatic) return a;
  if (g.is_depthwise()) return ConvAlgo::depthwise;
  if (winograd_pays(g)) return ConvAlgo::winograd;
  if (pointwise_planes(g) && g.kdim() > kTapsMax) return ConvAlgo::im2col;
  // The direct kernel wants enough output channels to fill its tile's columns and a long enough
  // contraction (cg*kh*kw) to amortise its per-tap offsets; below ~96 taps (e.g. the 1- to
  // 8-channel first layers of a CNN) the im2col GEMM measured 1.2-2.4x faster
  // (bench/compare.py winograd, docs/kernels.md).
  // A pointwise one reads each input value once per tap anyway: from 32 channels the direct
  // kernel beat the taps path (64->128 at 14x14, one thread: 120 against 87 GFLOP/s).
  const bool long_enough = g.kdim() >= kDirectMinTaps || (g.is_pointwise() && g.kdim() >= 32);
  return fills_tile(g.kg(), kernels().conv_nr) && long_enough ? ConvAlgo::direct
                                                              : ConvAlgo::im2col;
}

void conv2d_check_geom(const Conv2dGeom& g) {
  require(g.n >= 0, "conv2d: batch must be >= 0, got " + str(g.n));
  require(g.c >= 1 && g.k >= 1, "conv2d: in_channels and out_channels must be >= 1, got " +
                                    pair(g.c, g.k));
  require(g.h >= 1 && g.w >= 1, "conv2d: input plane must be non-empty, got " + pair(g.h, g.w));
  check_window_param(g.groups, 1, "conv2d", "groups");
  require(g.c % g.groups == 0 && g.k % g.groups == 0,
          "conv2d: groups (" + str(g.groups) + ") must divide in_channels (" + str(g.c) +
              ") and out_channels (" + str(g.k) + ")");
  // Range checks on kernel, stride, padding, dilation; overflow-checked extents.
  const auto [oh, ow] = g.out_size(g.h, g.w, "conv2d");
  // In range now: dilated kernels and padded sizes fit int64 (h, w are array extents).
  const int64_t ekh = g.span_h(), ekw = g.span_w();
  require(oh >= 1 && ow >= 1,
          "conv2d: kernel " + pair(ekh, ekw) + " (dilated) is larger than the padded input " +
              pair(g.h + 2 * g.ph, g.w + 2 * g.pw));
  require(g.oh == oh && g.ow == ow,
          "conv2d: output plane must be " + pair(oh, ow) + ", got " + pair(g.oh, g.ow));
  // Vector lanes index columns in int32 (depthwise leaves).
  require(g.w < (int64_t(1) << 31) && g.w + ekw + 64 * g.sw < (int64_t(1) << 31),
          "conv2d: input too wide (" + str(g.w) + ")");
}

namespace {

// The im2col forward's GEMM runs (no taps path, not bf16) for this algorithm and geometry.
bool im2col_gemm(ConvAlgo chosen, ConvAlgo asked, const Conv2dGeom& g) {
  return chosen == ConvAlgo::im2col && asked != ConvAlgo::bf16 && !taps_fits(g);
}

}  // namespace

struct ConvPrepacked {
  ConvAlgo algo;            // the algorithm chosen when packed (direct or im2col)
  const KernelTable* table; // the kernels whose panel widths the layout follows
  aligned_ptr<float> buf;
  int64_t bytes = 0;
};

std::shared_ptr<ConvPrepacked> conv2d_prepack(const float* w, const Conv2dGeom& g, ConvAlgo algo) {
  conv2d_check_geom(g);
  conv2d_check_algorithm(algo, g);
  require(w != nullptr, "conv2d_prepack: null array");
  const ConvAlgo chosen = conv2d_choose_algorithm(algo, g);
  const bool gemm = im2col_gemm(chosen, algo, g);
  if (chosen != ConvAlgo::direct && !gemm) return nullptr;
  auto pre = std::make_shared<ConvPrepacked>();
  pre->algo = chosen;
  pre->table = &kernels();
  if (chosen == ConvAlgo::direct) {
    pre->bytes = DirectConv::packed_floats(g) * 4;
    pre->buf = aligned_alloc_array<float>(static_cast<size_t>(DirectConv::packed_floats(g)));
    DirectConv::pack_weights(g, w, pre->buf.get());
    return pre;
  }
  const int64_t kg = g.kg(), K = g.kdim();
  const int mr = kernels().f32_mr;
  const int64_t per = PackedA::floats(MatView{w, kg, K, K, 1}, mr);
  pre->bytes = g.groups * per * 4;
  pre->buf = aligned_alloc_array<float>(static_cast<size_t>(g.groups * per));
  for (int64_t grp = 0; grp < g.groups; ++grp)
    pack_a_f32_whole(MatView{w + grp * kg * K, kg, K, K, 1}, mr, pre->buf.get() + grp * per);
  return pre;
}

int64_t conv2d_prepack_bytes(const ConvPrepacked* pre) { return pre ? pre->bytes : 0; }

bool conv2d_prepack_fits(const ConvPrepacked* pre, const Conv2dGeom& g, ConvAlgo algo) {
  return pre && pre->table == &kernels() && pre->algo == conv2d_choose_algorithm(algo, g) &&
         (pre->algo == ConvAlgo::direct || im2col_gemm(pre->algo, algo, g));
}

void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g, ConvAlgo algo, const ConvPrepacked* pre) {
  conv2d_check_geom(g);
  conv2d_check_algorithm(algo, g);
  require(x && w && y, "conv2d_forward: null array");
  if (g.n == 0) return;
  const float* packed = conv2d_prepack_fits(pre, g, algo) ? pre->buf.get() : nullptr;
  switch (conv2d_choose_algorithm(algo, g)) {
    case ConvAlgo::depthwise: return depthwise_forward(x, w, bias, y, g);
    case ConvAlgo::direct: return direct_forward(x, w, bias, y, g, packed);
    case ConvAlgo::winograd: return conv2d_winograd_forward(x, w, bias, y, g, 4);
    case ConvAlgo::winograd_f2: return conv2d_winograd_forward(x, w, bias, y, g, 2);
    default: break;
  }
  if (algo == ConvAlgo::bf16) return bf16_forward(x, w, bias, y, g);
  if (taps_fits(g)) return taps_forward(x, w, bias, y, g);  // im2col read in place
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  // im2col: Y = W @ col per image.
  const int mr = kernels().f32_mr, nr = kernels().f32_nr;
  std::vector<PackedA> wpack;
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    const MatView wg{w + grp * kg * K, kg, K, K, 1};
    if (packed)
      wpack.emplace_back(wg, mr, packed + grp * PackedA::floats(wg, mr));
    else
      wpack.emplace_back(wg, mr);
  }
  for_image_ranges(g.n, image_slots(g.n), [&](int, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        float* yg = y + (i * g.k + grp * kg) * P;
        const float* bg = bias ? bias + grp * kg : nullptr;
        if (bg)  // start C at the bias; the GEMM accumulates onto it
          for (int64_t r = 0; r < kg; ++r) std::fill(yg + r * P, yg + (r + 1) * P, bg[r]);
        const Im2col im{x + (i * g.c + grp * cg) * HW, g};
        sgemm_driver(
            kg, P, K, wpack[grp],
            [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
              im.pack_b(p0, j0, kc, nc, nr, dst);
            },
            yg, P, 1.0f, bg ? 1.0f : 0.0f, nullptr, Epilogue{});
      }
  });
}

void conv2d_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                     float* db, const Conv2dGeom& g, const float* dx_bias, ConvAlgo algo) {
  conv2d_check_geom(g);
  conv2d_check_algorithm(algo, g);
  require(dy != nullptr, "conv2d_backward: dy is required");
  require(!dw || x, "conv2d_backward: x is required for dw");
  require(algo != ConvAlgo::bf16, "algorithm 'bf16': computes the forward only (inference); "
                                  "training runs in float32");
  require(!dx || w, "conv2d_backward: w is required for dx");
  if (g.n == 0) return;
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  if (db) channel_sum_accumulate(dy, g.n, g.k, P, db);
  const ConvAlgo chosen = conv2d_choose_algorithm(algo, g);
  if (chosen == ConvAlgo::depthwise) {
    if (dx || dw) depthwise_backward(x, dy, w, dx, dw, g);
    if (dx && dx_bias) add_channel_bias(dx, g.n, g.c, HW, dx_bias);
    return;
  }
  // dX of a stride-1 conv is a conv of dY (the correlation): by Winograd when it was asked for
  // (and the correlation's padding 2 - p is >= 0) or when automatic picks it for that conv;
  // else by the direct kernel (asked for, or automatic with enough channels to fill its tile);
  // else by the dcol GEMM and col2im.
  const bool padded = g.sh == 1 && g.sw == 1;
  const bool corr_ok = padded && g.ph <= g.dh * (g.kh - 1) && g.pw <= g.dw * (g.kw - 1);
  ConvAlgo dx_algo = ConvAlgo::im2col;
  if (dx && corr_ok) {
    if (is_winograd(algo))  // conv2d_check_algorithm: the shape fits
      dx_algo = algo;
    else if (algo == ConvAlgo::automatic)
      dx_algo = winograd_pays(correlation_geom(g))  ? ConvAlgo::winograd
                : pointwise_planes(g)               ? ConvAlgo::im2col
                : fills_tile(cg, kernels().conv_nr) ? ConvAlgo::direct
                                                    : ConvAlgo::im2col;
    else if (algo != ConvAlgo::im2col)
      dx_algo = ConvAlgo::direct;
  }
  Correlation corr;  // the flipped weights, only for the paths that read them
  if (dx_algo != ConvAlgo::im2col) corr = correlation(w, g);
  if (is_winograd(dx_algo)) {
    conv2d_winograd_forward(dy, corr.wf.data(), dx_bias, dx, corr.gt,
                            dx_algo == ConvAlgo::winograd ? 4 : 2);
    dx = nullptr;  // done
    if (!dw) return;
  }
  const bool dx_direct = dx && dx_algo == ConvAlgo::direct;
  const int slots = image_slots(g.n);
  // With dW wanted and images side by side, dX runs in the same pass over the images, while
  // each image's dY is in cache; otherwise on its own.
  const bool fuse = dx && dx_direct && dw && slots > 1;
  if (dx && dx_direct && !fuse) direct_forward(dy, corr.wf.data(), dx_bias, dx, corr.gt);
  std::unique_ptr<DirectConv> corr_conv;
  if (fuse) corr_conv = std::make_unique<DirectConv>(corr.gt, corr.wf.data(), dx_bias);
  const bool dx_gemm = dx && !dx_direct;
  if (!dx_gemm && !dw) return;
  const int mr = kernels().f32_mr, nr = kernels().f32_nr;
  const PaddedWidth pw(g);
  std::vector<PackedA> wt;  // W_g^T (K x kg) for dcol = W^T @ dY
  if (dx_gemm)
    for (int64_t grp = 0; grp < g.groups; ++grp)
      wt.emplace_back(MatView{w + grp * kg * K, K, kg, 1, K}, mr);
  // dW's taps are read from the padded input (the input itself for 1x1). dX's GEMM path works on
  // dY in padded-width pixels (len per image) for stride 1, expanded when those have discards.
  const int64_t len = padded ? pw.pcols : P;
  const int64_t tap_size = dw && !pw.direct ? pw.buffer_size(cg) : 0;
  const int64_t grad_size = dx_gemm && padded && pw.discards() ? kg * pw.pcols : 0;
  const int64_t nr_pad = (kg + kernels().conv_nr - 1) / kernels().conv_nr * kernels().conv_nr;
  const int64_t chunk = chunk_images((tap_size + grad_size + (dw ? nr_pad * P : 0)) * 4,
                                     (g.n + slots - 1) / slots);
  const size_t wsize = static_cast<size_t>(K * kg);  // one group's dW^T
  std::vector<float> dwt(dw ? slots * g.groups * wsize : 0, 0.0f);
  for_image_ranges(g.n, slots, [&](int slot, int64_t lo, int64_t hi) {
    aligned_ptr<float> taps_buf, grads_buf, dcol;
    if (tap_size) taps_buf = aligned_alloc_array<float>(static_cast<size_t>(chunk * tap_size));
    if (grad_size) grads_buf = aligned_alloc_array<float>(static_cast<size_t>(chunk * grad_size));
    if (dx_gemm && !pw.direct) dcol = aligned_alloc_array<float>(static_cast<size_t>(K * len));
    DirectConv::Work corr_work;
    if (fuse) corr_work = corr_conv->workspace();
    std::vector<const float*> taps, grads;
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t c0 = lo; c0 < hi; c0 += chunk) {
        const int64_t c1 = std::min(hi, c0 + chunk);
        taps.clear();
        grads.clear();
        for (int64_t i = c0; i < c1; ++i) {
          const float* dyg = dy + (i * g.k + grp * kg) * P;
          if (fuse) corr_conv->image(dy, dx, i, grp, corr_work);
          if (dx_gemm) {  // dcol = W^T @ dY, then col2im into dx (a 1x1 layer: dcol is dx)
            const float* grad = dyg;
            if (grad_size) {
              float* gd = grads_buf.get() + (i - c0) * grad_size;
              pw.expand(dyg, kg, gd);
              grad = gd;
            }
            float* dxg = dx + (i * g.c + grp * cg) * HW;
            const MatView gv{grad, kg, len, len, 1};
            sgemm_driver(
                K, len, kg, wt[grp],
                [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
                  pack_b_f32(gv, p0, j0, kc, nc, nr, dst);
                },
                pw.direct ? dxg : dcol.get(), len, 1.0f, 0.0f, nullptr, Epilogue{});
            if (pw.direct) {
              // done: the 1x1 layer's dcol rows are dx's planes
            } else if (padded) {
              pw.col2im(dcol.get(), len, g, cg, dxg);
            } else {
              std::memset(dxg, 0, sizeof(float) * cg * HW);
              col2im_add(dcol.get(), g, dxg);
            }
          }
          if (!dw) continue;
          const float* xg = x + (i * g.c + grp * cg) * HW;
          grads.push_back(dyg);
          if (!tap_size) {
            taps.push_back(xg);
          } else {
            float* tap_dst = taps_buf.get() + (i - c0) * tap_size;
            pw.pad(xg, g, cg, tap_dst);
            taps.push_back(tap_dst);
          }
        }
        if (dw)
          weight_grad(taps, pw.off.data(), K, grads, P, kg, g.oh, g.ow, g.sh * pw.wp, g.sw,
                      dwt.data() + (slot * g.groups + grp) * wsize, slots == 1);
      }
  });
  if (dw)  // dw[grp*kg + o][p] += sum over slots of dW^T[p][o]
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int s = 0; s < slots; ++s) {
        const float* part = dwt.data() + (s * g.groups + grp) * wsize;
        for (int64_t o = 0; o < kg; ++o) {
          float* row = dw + (grp * kg + o) * K;
          for (int64_t p = 0; p < K; ++p) row[p] += part[p * kg + o];
        }
      }
  if (dx_gemm && dx_bias) add_channel_bias(dx, g.n, g.c, HW, dx_bias);
}

void channel_sum_accumulate(const float* x, int64_t n, int64_t c, int64_t plane, float* out) {
  const auto moments = kernels().f32_row_moments;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(c, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      float rs, rq;
      moments(x + (i * c + ch) * plane, plane, 0.0f, &rs, &rq);
      s += rs;
    }
    out[ch] += static_cast<float>(s);
  }
}

}  // namespace fastnn
