// Direct stride-1 convolution: the im2col operand is never packed. The input group is copied once
// per image into the padded-width layout (conv2d_parts.h), where the conv_mr input values a tile
// needs at tap p are contiguous at xp + off[p] + j0, and the f32_conv_ukr leaf broadcasts them from
// there against packed weight panels (conv_nr output channels, the whole K at once).
// A tile is conv_mr output pixels x conv_nr output channels: pixels in M keeps the register tile
// full whatever the channel count, and tiles follow output rows when that wastes fewer lanes than
// running across the discarded columns. The tile lands in a small scratch and is transposed into
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

struct Tile {
  int64_t j0, m;  // first padded-width pixel, pixel count (<= conv_mr)
};

// Tiles covering the valid pixels of one image: per output row, or straight across rows (the
// discarded columns then ride along) when that needs fewer tile rows.
std::vector<Tile> make_tiles(const PaddedWidth& pw, int mr) {
  std::vector<Tile> tiles;
  const int64_t per_row = pw.oh * ((pw.ow + mr - 1) / mr);
  const int64_t span = (pw.oh - 1) * pw.wp + pw.ow;
  const int64_t across = (span + mr - 1) / mr;
  if (per_row <= across) {
    for (int64_t oy = 0; oy < pw.oh; ++oy)
      for (int64_t ox = 0; ox < pw.ow; ox += mr)
        tiles.push_back({oy * pw.wp + ox, std::min<int64_t>(mr, pw.ow - ox)});
  } else {
    for (int64_t j = 0; j < span; j += mr) tiles.push_back({j, std::min<int64_t>(mr, span - j)});
  }
  return tiles;
}

}  // namespace

void direct_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g) {
  const KernelTable& t = kernels();
  const int mr = t.conv_mr, nr = t.conv_nr;
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  const PaddedWidth pw(g);
  const int64_t xp_size = pw.buffer_size(cg) + mr;  // the tile reads mr values past its last pixel
  const int64_t panels = (kg + nr - 1) / nr;
  // Weights: per group, panels of nr output channels over the whole K (W_g^T, K x kg).
  aligned_ptr<float> wbuf = aligned_alloc_array<float>(static_cast<size_t>(g.groups * panels * K * nr));
  for (int64_t grp = 0; grp < g.groups; ++grp)
    pack_b_f32(MatView{w + grp * kg * K, K, kg, 1, K}, 0, 0, K, kg, nr,
               wbuf.get() + grp * panels * K * nr);
  const std::vector<Tile> tiles = make_tiles(pw, mr);
  const int64_t jobs = panels * static_cast<int64_t>(tiles.size());

  // One (panel, tile) job of image i, group grp; scratch holds mr x nr floats.
  auto job = [&](const float* xp, int64_t i, int64_t grp, int64_t jb, float* scratch,
                 const float** rows) {
    const int64_t q = jb / static_cast<int64_t>(tiles.size());
    const Tile& tl = tiles[jb % static_cast<int64_t>(tiles.size())];
    const int64_t nn = std::min<int64_t>(nr, kg - q * nr);
    t.f32_conv_ukr(K, xp + tl.j0, pw.off.data(), wbuf.get() + (grp * panels + q) * K * nr, scratch, nr,
                   tl.m, nn, 0);
    const float* bq = bias ? bias + grp * kg + q * nr : nullptr;
    // Scatter the tile's pixels (rows of scratch) into the output, one output-row run at a time.
    float* yq = y + (i * g.k + grp * kg + q * nr) * P;
    for (int64_t r0 = 0; r0 < tl.m;) {
      const int64_t j = tl.j0 + r0, oy = j / pw.wp, ox = j % pw.wp;
      if (ox >= pw.ow) {  // a discarded column
        ++r0;
        continue;
      }
      const int64_t run = std::min(tl.m - r0, pw.ow - ox);
      for (int64_t r = 0; r < run; ++r) rows[r] = scratch + (r0 + r) * nr;
      t.f32_transpose_rows(rows, run, nn, P, run, bq, yq + oy * g.ow + ox);
      r0 += run;
    }
  };

  // The tile source of image i, group grp: a padded copy, or for a 1x1 conv without padding the
  // input itself, except at the very end of x, where a tile's reads past its last pixel would
  // leave the array.
  auto input = [&](int64_t i, int64_t grp, float* xp) -> const float* {
    const float* xg = x + (i * g.c + grp * cg) * HW;
    if (pw.direct && (i + 1 < g.n || grp + 1 < g.groups)) return xg;
    pw.pad(xg, g, cg, xp);
    return xp;
  };
  const int slots = image_slots(g.n);
  auto buffers = [&](aligned_ptr<float>& sc, std::vector<const float*>& rows) {
    sc = aligned_alloc_array<float>(static_cast<size_t>(mr * nr));
    rows.resize(static_cast<size_t>(mr));
  };
  if (slots > 1) {
    for_image_ranges(g.n, slots, [&](int, int64_t lo, int64_t hi) {
      aligned_ptr<float> xp = aligned_alloc_array<float>(static_cast<size_t>(xp_size)), sc;
      std::vector<const float*> rows;
      buffers(sc, rows);
      std::fill(xp.get() + xp_size - mr, xp.get() + xp_size, 0.0f);
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          const float* src = input(i, grp, xp.get());
          for (int64_t jb = 0; jb < jobs; ++jb) job(src, i, grp, jb, sc.get(), rows.data());
        }
    });
    return;
  }
  // Few images: one at a time, its tiles shared among the threads.
  aligned_ptr<float> xp = aligned_alloc_array<float>(static_cast<size_t>(xp_size));
  std::fill(xp.get() + xp_size - mr, xp.get() + xp_size, 0.0f);
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), jobs));
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const float* src = input(i, grp, xp.get());
#pragma omp parallel num_threads(nt)
      {
        aligned_ptr<float> sc;
        std::vector<const float*> rows;
        buffers(sc, rows);
#pragma omp for schedule(static)
        for (int64_t jb = 0; jb < jobs; ++jb) job(src, i, grp, jb, sc.get(), rows.data());
      }
    }
}

void weight_grad(const std::vector<const float*>& taps, const int64_t* tap_off, int64_t K,
                 const std::vector<const float*>& grads, int64_t grad_ld, int64_t kg, int64_t rows,
                 int64_t row_len, int64_t tap_stride, float* dwt, bool threaded) {
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
      t.f32_conv_wgrad_ukr(a, rows, row_len, tap_stride, bpack.get() + (i * panels + q) * P * nr,
                           dwt + p0 * kg + q * nr, kg, mm, nn, 1);
    }
  }
}

}  // namespace conv
}  // namespace fastnn
