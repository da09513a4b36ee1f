// Direct convolution: the im2col operand is never packed. The input group is copied once per
// image into the padded-width layout (conv2d_parts.h), where the conv_mr input values a tile needs
// at tap p lie at xp + off[p] + a_at, a column stride apart, and the f32_conv_ukr leaf broadcasts
// them from there against packed weight panels (conv_nr output channels, the whole K at once).
// A tile is conv_mr output pixels x conv_nr output channels: pixels in M keeps the register tile
// full whatever the channel count, and tiles follow output rows (for stride 1 they may run across
// the discarded columns instead when that wastes fewer lanes). The tile lands in a small scratch and is transposed into
// the NCHW output (bias added on the way) by f32_transpose_rows, one output-row run at a time.
// Used for Conv2d's forward and, as the correlation of dY with the flipped kernel, for its input
// gradient (and hence ConvTranspose2d's forward). The weight gradient (weight_grad) reads the
// im2col rows in place the same way, through the f32_conv_wgrad_ukr leaf.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "conv2d_parts.h"

namespace fastnn {
namespace conv {

namespace {

using Tile = DirectConv::Tile;

// Tiles covering the valid pixels of one image: per output row, or (stride 1) straight across
// rows, the discarded columns riding along, when that needs fewer tiles.
std::vector<Tile> make_tiles(const PaddedWidth& pw, const Conv2dGeom& g, int mr) {
  std::vector<Tile> tiles;
  const int64_t per_row = pw.oh * ((pw.ow + mr - 1) / mr);
  const int64_t span = (pw.oh - 1) * pw.wp + pw.ow;
  const int64_t across = (span + mr - 1) / mr;
  if (g.sh == 1 && g.sw == 1 && across < per_row) {
    for (int64_t j = 0; j < span; j += mr) tiles.push_back({j, j, std::min<int64_t>(mr, span - j)});
    return tiles;
  }
  for (int64_t oy = 0; oy < pw.oh; ++oy)
    for (int64_t ox = 0; ox < pw.ow; ox += mr)
      tiles.push_back(
          {oy * pw.wp + ox, oy * g.sh * pw.wp + ox * g.sw, std::min<int64_t>(mr, pw.ow - ox)});
  return tiles;
}

}  // namespace

int64_t DirectConv::packed_floats(const Conv2dGeom& g) {
  const int nr = kernels().conv_nr;
  return g.groups * ((g.kg() + nr - 1) / nr) * g.kdim() * nr;
}

// Per group, panels of nr output channels over the whole K (W_g^T, K x kg).
void DirectConv::pack_weights(const Conv2dGeom& g, const float* w, float* dst) {
  const int nr = kernels().conv_nr;
  const int64_t kg = g.kg(), K = g.kdim(), panels = (kg + nr - 1) / nr;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    pack_b_f32_whole(MatView{w + grp * kg * K, K, kg, 1, K}, nr, dst + grp * panels * K * nr);
}

DirectConv::DirectConv(const Conv2dGeom& g, const float* w, const float* bias, const float* packed)
    : g_(g), t_(kernels()), pw_(g), bias_(bias) {
  mr_ = t_.conv_mr;
  nr_ = t_.conv_nr;
  // A tile reads mr values (a column stride apart) from its first pixel, past the valid ones.
  xp_size_ = pw_.buffer_size(g.cg()) + mr_ * g.sw;
  panels_ = (g.kg() + nr_ - 1) / nr_;
  if (packed) {
    wp_ = packed;
  } else {
    wbuf_ = aligned_alloc_array<float>(static_cast<size_t>(packed_floats(g)));
    pack_weights(g, w, wbuf_.get());
    wp_ = wbuf_.get();
  }
  tiles_ = make_tiles(pw_, g, mr_);
}

DirectConv::Work DirectConv::workspace() const {
  Work wk;
  wk.xp = aligned_alloc_array<float>(static_cast<size_t>(xp_size_));
  std::fill(wk.xp.get() + pw_.buffer_size(g_.cg()), wk.xp.get() + xp_size_, 0.0f);
  wk.scratch = aligned_alloc_array<float>(static_cast<size_t>(mr_ * nr_));
  wk.rows.resize(static_cast<size_t>(mr_));
  return wk;
}

const float* DirectConv::source(const float* x, int64_t i, int64_t grp, Work& wk) const {
  // A 1x1 conv without padding reads the input itself, except at the very end of x, where a
  // tile's reads past its last pixel would leave the array.
  const float* xg = x + (i * g_.c + grp * g_.cg()) * g_.in_plane();
  if (pw_.direct && (i + 1 < g_.n || grp + 1 < g_.groups)) return xg;
  pw_.pad(xg, g_, g_.cg(), wk.xp.get());
  return wk.xp.get();
}

void DirectConv::job(const float* src, float* y, int64_t i, int64_t grp, int64_t jb,
                     Work& wk) const {
  const int64_t kg = g_.kg(), K = g_.kdim(), P = g_.out_plane();
  const int64_t q = jb / static_cast<int64_t>(tiles_.size());
  const Tile& tl = tiles_[jb % static_cast<int64_t>(tiles_.size())];
  const int64_t nn = std::min<int64_t>(nr_, kg - q * nr_);
  float* scratch = wk.scratch.get();
  t_.f32_conv_ukr(K, src + tl.a_at, pw_.off.data(), g_.sw,
                  wp_ + (grp * panels_ + q) * K * nr_, scratch, nr_, tl.m, nn, 0);
  const float* bq = bias_ ? bias_ + grp * kg + q * nr_ : nullptr;
  // Scatter the tile's pixels (rows of scratch) into the output, one output-row run at a time.
  float* yq = y + (i * g_.k + grp * kg + q * nr_) * P;
  for (int64_t r0 = 0; r0 < tl.m;) {
    const int64_t j = tl.j0 + r0, oy = j / pw_.wp, ox = j % pw_.wp;
    if (ox >= pw_.ow) {  // a discarded column
      ++r0;
      continue;
    }
    const int64_t run = std::min(tl.m - r0, pw_.ow - ox);
    for (int64_t r = 0; r < run; ++r) wk.rows[r] = scratch + (r0 + r) * nr_;
    t_.f32_transpose_rows(wk.rows.data(), run, nn, P, run, bq, yq + oy * g_.ow + ox);
    r0 += run;
  }
}

void DirectConv::image(const float* x, float* y, int64_t i, int64_t grp, Work& wk) const {
  const float* src = source(x, i, grp, wk);
  for (int64_t jb = 0; jb < jobs(); ++jb) job(src, y, i, grp, jb, wk);
}

void direct_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g, const float* packed) {
  const DirectConv dc(g, w, bias, packed);
  const int slots = image_slots(g.n);
  if (slots > 1) {
    for_image_ranges(g.n, slots, [&](int, int64_t lo, int64_t hi) {
      DirectConv::Work wk = dc.workspace();
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t grp = 0; grp < g.groups; ++grp) dc.image(x, y, i, grp, wk);
    });
    return;
  }
  // Few images: one at a time, its tiles shared among the threads.
  DirectConv::Work shared = dc.workspace();
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), dc.jobs()));
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const float* src = dc.source(x, i, grp, shared);
#pragma omp parallel num_threads(nt)
      {
        DirectConv::Work wk = dc.workspace();
#pragma omp for schedule(static)
        for (int64_t jb = 0; jb < dc.jobs(); ++jb) dc.job(src, y, i, grp, jb, wk);
      }
    }
}

void weight_grad(const std::vector<const float*>& taps, const int64_t* tap_off, int64_t K,
                 const std::vector<const float*>& grads, int64_t grad_ld, int64_t kg, int64_t rows,
                 int64_t row_len, int64_t tap_stride, int64_t tap_step, float* dwt, bool threaded) {
  const KernelTable& t = kernels();
  const int mr = t.conv_mr, nr = t.conv_nr;
  constexpr int kMaxTile = 64;
  if (mr > kMaxTile || nr > kMaxTile) throw std::logic_error("weight_grad: register tile wider than 64");
  const int64_t nimg = static_cast<int64_t>(taps.size()), P = rows * row_len;
  const int64_t panels = (kg + nr - 1) / nr, tap_tiles = (K + mr - 1) / mr;
  const int nt = threaded
      ? static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), panels * tap_tiles)))
      : 1;
  // dY^T panels: per image and panel, P steps of nr output channels.
  aligned_ptr<float> bpack = aligned_alloc_array<float>(static_cast<size_t>(nimg * panels * P * nr));
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t ip = 0; ip < nimg * panels; ++ip) {
    const int64_t i = ip / panels, q = ip % panels, nn = std::min<int64_t>(nr, kg - q * nr);
    const float* src[kMaxTile];
    for (int64_t j = 0; j < nn; ++j) src[j] = grads[i] + (q * nr + j) * grad_ld;
    t.f32_transpose_rows(src, nn, P, nr, nr, nullptr, bpack.get() + ip * P * nr);
  }
  // Tiles of mr taps x nr output channels, each accumulated over the images.
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t jb = 0; jb < panels * tap_tiles; ++jb) {
    const int64_t q = jb % panels, p0 = (jb / panels) * mr;
    const int64_t mm = std::min<int64_t>(mr, K - p0), nn = std::min<int64_t>(nr, kg - q * nr);
    const float* a[kMaxTile];
    for (int64_t i = 0; i < nimg; ++i) {
      for (int64_t r = 0; r < mr; ++r) a[r] = taps[i] + tap_off[p0 + std::min<int64_t>(r, mm - 1)];
      t.f32_conv_wgrad_ukr(a, rows, row_len, tap_stride, tap_step,
                           bpack.get() + (i * panels + q) * P * nr, dwt + p0 * kg + q * nr, kg, mm,
                           nn, 1);
    }
  }
}

}  // namespace conv
}  // namespace fastnn
