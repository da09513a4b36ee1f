// Building blocks of the conv2d drivers (conv2d.cpp): packed weights, the two im2col forms, the
// transposing weight-gradient GEMM, threading helpers. Internal to csrc/frame.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"
#include "gemm_driver.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {
namespace conv {

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Threads that work on images side by side: all of them when the batch keeps every thread busy,
// else 1 (images one after another, each GEMM threaded inside). Decided once per call so that
// per-thread buffers and loops agree even if the thread count changes meanwhile.
inline int image_slots(int64_t n) {
  const int nt = get_num_threads();
  return (nt > 1 && (n >= 2 * nt || (n >= nt && n % nt == 0))) ? nt : 1;
}

// body(slot, first image, end image) on `slots` threads with contiguous image ranges. With one
// slot no parallel region is opened, so the GEMMs inside keep their own threads.
template <class F>
void for_image_ranges(int64_t n, int slots, const F& body) {
  if (slots <= 1) {
    body(0, int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(slots)
  {
    const int s = thread_id();
    body(s, n * s / slots, n * (s + 1) / slots);
  }
}

// An operand (rows x cols) packed once into the driver's A-panel layout over its whole inner
// dimension: panel q holds rows [q*mr, q*mr + mr) as cols steps of mr floats. The driver's
// blocks start at multiples of mr, so serving a block is one memcpy per panel.
struct PackedA {
  aligned_ptr<float> own;
  const float* buf = nullptr;
  MatView src;
  int mr = 0;

  static int64_t floats(const MatView& a, int mr) { return (a.rows + mr - 1) / mr * a.cols * mr; }
  PackedA(const MatView& a, int mr_) : src(a), mr(mr_) {
    own = aligned_alloc_array<float>(static_cast<size_t>(floats(a, mr)));
    pack_a_f32_whole(a, mr, own.get());
    buf = own.get();
  }
  // Panels packed before (ConvPrepacked), borrowed.
  PackedA(const MatView& a, int mr_, const float* packed) : buf(packed), src(a), mr(mr_) {}
  void operator()(int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) const {
    if (i0 % mr != 0) {  // a block layout this packing does not serve: pack from the source
      pack_a_f32(src, i0, p0, mc, kc, mr, dst);
      return;
    }
    for (int64_t ir = 0; ir < mc; ir += mr)
      std::memcpy(dst + (ir / mr) * kc * mr, buf + ((i0 + ir) / mr) * src.cols * mr + p0 * mr,
                  sizeof(float) * kc * mr);
  }
};

// Convolution in "padded-width" coordinates. The input group is copied into a zero-padded
// buffer: per channel hp = h + 2*ph rows of period wp = max(w + pw, ow), each row
// [pw zeros | w values | zeros]; the right padding of a row is the left padding of the next, so
// wp = w + pw suffices for reading. Im2col row p = (channel, ki, kj) at output pixel (oy, ox) is
// xp[off[p] + oy*sh*wp + ox*sw]: for stride 1 with output pixel j = oy*wp + ox (columns ox >= ow
// computed and discarded) it is the contiguous slice xp + off[p] of length pcols = oh*wp. A 1x1
// conv without padding is the same thing with xp = x itself (direct).
struct PaddedWidth {
  int64_t hp = 0, wp = 0, oh = 0, ow = 0, plane = 0, pcols = 0, slack = 0;
  bool direct = false;  // use the input as it is (1x1, no padding: nothing to pad or discard)
  std::vector<int64_t> off;

  explicit PaddedWidth(const Conv2dGeom& g) {
    hp = g.h + 2 * g.ph;
    wp = std::max(g.w + g.pw, g.ow);
    oh = g.oh;
    ow = g.ow;
    plane = hp * wp;
    pcols = g.oh * wp;
    direct = g.is_pointwise();
    // Discarded columns (stride 1) or the last window of a row (stride > 1) read this far past
    // the last plane.
    slack = (g.kw - 1) * g.dw + g.pw;
    off.resize(static_cast<size_t>(g.kdim()));
    for (int64_t p = 0; p < g.kdim(); ++p) {
      const int64_t ch = p / (g.kh * g.kw), r = p % (g.kh * g.kw);
      off[p] = ch * plane + (r / g.kw) * g.dh * wp + (r % g.kw) * g.dw;
    }
  }
  int64_t buffer_size(int64_t channels) const { return channels * plane + slack; }
  bool discards() const { return wp > ow; }

  // dst (buffer_size(cg)) = the cg planes of x in the padded layout.
  void pad(const float* x, const Conv2dGeom& g, int64_t cg, float* dst) const;
  // dst (rows x pcols) = rows of oh*ow values, each output row followed by wp - ow zeros.
  void expand(const float* src, int64_t rows, float* dst) const;
  // dx (cg planes h x w) = col2im(dcol), dcol K x pcols with row stride ld (gather form, by the
  // f32_col2im_row leaf; discarded columns are never read).
  void col2im(const float* dcol, int64_t ld, const Conv2dGeom& g, int64_t cg, float* dx) const;
};

// The im2col matrix of one image and group for any stride: row p = (channel p / (kh*kw), ki, kj),
// column j = output pixel (j / ow, j % ow).
struct Im2col {
  const float* x;  // first channel of the group in this image
  const Conv2dGeom& g;

  void pack_b(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst) const;
};
// dx (the group's cg input planes of one image) += col2im(dcol), any stride.
void col2im_add(const float* dcol, const Conv2dGeom& g, float* dx);

// dWt (K x kg, row stride kg) += the weight-gradient product over a chunk of images:
//   dWt[p][o] += sum over images i, output pixels (r, x) of  tap(i, p)[r*tap_stride + x*tap_step]
//                * grad(i, o)[r*row_len + x],   r < rows, x < row_len,
// where tap(i, p) = taps[i] + tap_off[p] (an im2col row) and grad(i, o) = grads[i] + o*grad_ld.
// tap_stride > row_len skips the discarded columns of padded-width taps (they never enter the
// product). dY^T is packed into conv_nr-wide panels (f32_transpose_rows); the taps are read in
// place by the f32_conv_wgrad_ukr leaf (conv2d_direct.cpp). threaded: share the tiles among the
// threads (call from outside any parallel region).
void weight_grad(const std::vector<const float*>& taps, const int64_t* tap_off, int64_t K,
                 const std::vector<const float*>& grads, int64_t grad_ld, int64_t kg, int64_t rows,
                 int64_t row_len, int64_t tap_stride, int64_t tap_step, float* dwt, bool threaded);

// The direct convolution (conv2d_direct.cpp): y = conv(x, w) + bias (bias may be null), one
// (image, group) at a time, weights packed once at construction.
class DirectConv {
 public:
  struct Tile {
    int64_t j0;    // first pixel in padded-width numbering (oy*wp + ox): places the output
    int64_t a_at;  // the tile's first input value in the padded input (oy*sh*wp + ox*sw)
    int64_t m;     // pixel count (<= conv_mr)
  };
  // Per-thread buffers: the padded input of one (image, group) and the output tile.
  struct Work {
    aligned_ptr<float> xp, scratch;
    std::vector<const float*> rows;
  };

  // packed: the weights in this kernel's panel layout (pack_weights), borrowed; null: packed here.
  DirectConv(const Conv2dGeom& g, const float* w, const float* bias, const float* packed = nullptr);
  // The panel layout: per group, panels of conv_nr output channels over the whole K.
  static int64_t packed_floats(const Conv2dGeom& g);
  static void pack_weights(const Conv2dGeom& g, const float* w, float* dst);
  Work workspace() const;
  // All of image i, group grp of x into y.
  void image(const float* x, float* y, int64_t i, int64_t grp, Work& wk) const;
  // The same in parts: the tile source (padded copy in wk, or x itself), then jobs() jobs,
  // each a (weight panel, tile) pair that may run on any thread with its own Work.
  const float* source(const float* x, int64_t i, int64_t grp, Work& wk) const;
  int64_t jobs() const { return panels_ * static_cast<int64_t>(tiles_.size()); }
  void job(const float* src, float* y, int64_t i, int64_t grp, int64_t jb, Work& wk) const;

 private:
  Conv2dGeom g_;
  const KernelTable& t_;
  PaddedWidth pw_;
  const float* bias_;
  int mr_ = 0, nr_ = 0;
  int64_t xp_size_ = 0, panels_ = 0;
  aligned_ptr<float> wbuf_;  // owned panels (none when borrowed)
  const float* wp_ = nullptr;  // the panels used
  std::vector<Tile> tiles_;
};

// y = conv(x, w) + bias by DirectConv, threaded over images (or over one image's jobs);
// packed: DirectConv::pack_weights of w, or null.
void direct_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g, const float* packed = nullptr);

void depthwise_forward(const float* x, const float* w, const float* bias, float* y,
                       const Conv2dGeom& g);
void depthwise_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                        const Conv2dGeom& g);

}  // namespace conv
}  // namespace fastnn
