// Resize of (planes, ih, iw) to (planes, oh, ow) with PyTorch's index rules, and the depth <-> space
// permutations (PixelShuffle / PixelUnshuffle, ONNX DepthToSpace / SpaceToDepth).
//
// Per output index d along an axis of input extent in and output extent out, with
// scale = 1 / scale_factor when the user gave one, else in / out (PyTorch's compute_scales_value),
// computed in float as PyTorch's CPU kernels do:
//   nearest        src = min(floor(d * scale), in - 1); out == in copies, out == 2 in reads d >> 1
//   nearest-exact  src = min(floor((d + 0.5) * scale), in - 1)
//   bilinear       align_corners: src = d * (in - 1) / (out - 1) (0 when out == 1); otherwise
//                  src = max(scale * (d + 0.5) - 0.5, 0); i0 = min(floor(src), in - 1),
//                  i1 = i0 + (i0 < in - 1), w1 = clamp(src - i0, 0, 1), w0 = 1 - w1
//                  (out == in: i0 = i1 = d, w0 = 1).
// The tables are built once per call; the forward gathers, the backward scatter-adds. OpenMP over
// planes, each plane's gradient summed serially in output order: the result does not depend on
// the thread count. Plain loops, the same on every ISA.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"
#include "parallel_blocks.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// body(p) for each plane p, one plane per task (a plane's result never depends on the split).
template <class F>
void each_plane(int64_t planes, const F& body) {
  parallel_blocks(planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) body(p);
  });
}

// One axis's source indices and weights: output d reads w0[d] * in[i0[d]] + w1[d] * in[i1[d]].
struct AxisTable {
  std::vector<int64_t> i0, i1;
  std::vector<float> w0, w1;
};

// floor(v) as an index in 0 .. in - 1 (a huge or NaN v, from an extreme scale factor, clamps to
// the last pixel instead of overflowing the conversion).
int64_t clamp_floor(float v, int64_t in) {
  const float f = std::floor(v);
  if (!(f < static_cast<float>(in - 1))) return in - 1;
  return f < 0.0f ? 0 : static_cast<int64_t>(f);
}

float axis_scale(int64_t in, int64_t out, double factor) {
  return factor > 0.0 ? static_cast<float>(1.0 / factor)
                      : static_cast<float>(in) / static_cast<float>(out);
}

AxisTable axis_table(int64_t in, int64_t out, double factor, int mode, bool align_corners) {
  AxisTable t;
  t.i0.resize(out); t.i1.resize(out); t.w0.assign(out, 1.0f); t.w1.assign(out, 0.0f);
  if (mode != kResizeBilinear) {
    const float scale = axis_scale(in, out, factor);
    for (int64_t d = 0; d < out; ++d) {
      int64_t s;
      if (mode == kResizeNearest) {
        if (out == in) s = d;
        else if (out == 2 * in) s = d >> 1;
        else s = clamp_floor(static_cast<float>(d) * scale, in);
      } else {
        s = clamp_floor(static_cast<float>((d + 0.5) * scale), in);
      }
      t.i0[d] = t.i1[d] = s;
    }
    return t;
  }
  float scale;
  if (align_corners)
    scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  else
    scale = axis_scale(in, out, factor);
  for (int64_t d = 0; d < out; ++d) {
    if (out == in) {
      t.i0[d] = t.i1[d] = d;
      continue;
    }
    float src = align_corners ? scale * static_cast<float>(d)
                              : scale * (static_cast<float>(d) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = clamp_floor(src, in);
    const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    t.i0[d] = i0;
    t.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
    t.w0[d] = 1.0f - l1;
    t.w1[d] = l1;
  }
  return t;
}

// Checks r, builds the tables, then for each plane p (planes in parallel): begin(p), and
// row(p, oy, y0, y1, h0, h1, tw) for each output row oy, which reads input rows y0 and y1 with
// weights h0 and h1 and the columns of tw.
template <class Begin, class Row>
void resize_rows(const Resize2d& r, int64_t planes, const Begin& begin, const Row& row) {
  resize2d_check(r);
  if (planes <= 0) return;
  const AxisTable th = axis_table(r.ih, r.oh, r.scale_h, r.mode, r.align_corners);
  const AxisTable tw = axis_table(r.iw, r.ow, r.scale_w, r.mode, r.align_corners);
  each_plane(planes, [&](int64_t p) {
    begin(p);
    for (int64_t oy = 0; oy < r.oh; ++oy)
      row(p, oy, th.i0[oy], th.i1[oy], th.w0[oy], th.w1[oy], tw);
  });
}

}  // namespace

void resize2d_check(const Resize2d& r) {
  if (r.ih < 1 || r.iw < 1)
    throw std::invalid_argument("resize2d: input plane: expected a non-empty plane, got " +
                                str(r.ih) + "x" + str(r.iw));
  if (r.oh < 1 || r.ow < 1)
    throw std::invalid_argument("resize2d: output size: expected extents >= 1, got " +
                                str(r.oh) + "x" + str(r.ow));
  const int64_t limit = int64_t{1} << 31;
  if (r.ih >= limit || r.iw >= limit || r.oh >= limit || r.ow >= limit)
    throw std::invalid_argument("resize2d: extents: expected < 2**31, got input " + str(r.ih) +
                                "x" + str(r.iw) + ", output " + str(r.oh) + "x" + str(r.ow));
  if (r.mode != kResizeNearest && r.mode != kResizeNearestExact && r.mode != kResizeBilinear)
    throw std::invalid_argument("mode: expected 0 (nearest), 1 (nearest-exact) or 2 (bilinear), "
                                "got " + str(r.mode));
  if (r.align_corners && r.mode != kResizeBilinear)
    throw std::invalid_argument("align_corners: expected false for a nearest mode, got true");
  if (!(std::isfinite(r.scale_h) && r.scale_h >= 0.0) ||
      !(std::isfinite(r.scale_w) && r.scale_w >= 0.0))
    throw std::invalid_argument("scales: expected finite values >= 0 (0: input / output), got (" +
                                std::to_string(r.scale_h) + ", " + std::to_string(r.scale_w) +
                                ")");
}

void resize2d_forward(const float* x, int64_t planes, const Resize2d& r, float* y) {
  const int64_t in_plane = r.ih * r.iw, out_plane = r.oh * r.ow;
  const bool nearest = r.mode != kResizeBilinear;
  resize_rows(r, planes, [](int64_t) {},
              [&](int64_t p, int64_t oy, int64_t y0, int64_t y1, float h0, float h1,
                  const AxisTable& tw) {
    const float* r0 = x + p * in_plane + y0 * r.iw;
    const float* r1 = x + p * in_plane + y1 * r.iw;
    float* yr = y + p * out_plane + oy * r.ow;
    if (nearest) {
      for (int64_t ox = 0; ox < r.ow; ++ox) yr[ox] = r0[tw.i0[ox]];
      return;
    }
    for (int64_t ox = 0; ox < r.ow; ++ox) {
      const int64_t a = tw.i0[ox], b = tw.i1[ox];
      yr[ox] = h0 * (tw.w0[ox] * r0[a] + tw.w1[ox] * r0[b]) +
               h1 * (tw.w0[ox] * r1[a] + tw.w1[ox] * r1[b]);
    }
  });
}

void resize2d_backward(const float* dy, int64_t planes, const Resize2d& r, float* dx) {
  const int64_t in_plane = r.ih * r.iw, out_plane = r.oh * r.ow;
  const bool nearest = r.mode != kResizeBilinear;
  resize_rows(
      r, planes,
      [&](int64_t p) {
        std::memset(dx + p * in_plane, 0, sizeof(float) * static_cast<size_t>(in_plane));
      },
      [&](int64_t p, int64_t oy, int64_t y0, int64_t y1, float h0, float h1,
          const AxisTable& tw) {
        float* r0 = dx + p * in_plane + y0 * r.iw;
        float* r1 = dx + p * in_plane + y1 * r.iw;
        const float* g = dy + p * out_plane + oy * r.ow;
        if (nearest) {
          for (int64_t ox = 0; ox < r.ow; ++ox) r0[tw.i0[ox]] += g[ox];
          return;
        }
        for (int64_t ox = 0; ox < r.ow; ++ox) {
          const int64_t a = tw.i0[ox], b = tw.i1[ox];
          const float ga = g[ox] * tw.w0[ox], gb = g[ox] * tw.w1[ox];
          r0[a] += h0 * ga;
          r0[b] += h0 * gb;
          r1[a] += h1 * ga;
          r1[b] += h1 * gb;
        }
      });
}

void depth_space_check(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block) {
  if (n < 0 || c < 0 || h < 0 || w < 0)
    throw std::invalid_argument("depth_space: expected n, c, h, w >= 0, got (" + str(n) + ", " +
                                str(c) + ", " + str(h) + ", " + str(w) + ")");
  if (block < 1 || block >= (int64_t{1} << 31))
    throw std::invalid_argument("block: expected 1 <= block < 2**31, got " + str(block));
}

// Output row (img, ch, hh * block + i) of the space tensor walks w * block values; the depth
// tensor's element for (ch, i, j) at (hh, ww) lies in channel (ch * block + i) * block + j (CRD)
// or (i * block + j) * c + ch (DCR).
void depth_space(const float* src, int64_t n, int64_t c, int64_t h, int64_t w, int64_t block,
                 bool dcr, bool to_space, float* dst) {
  depth_space_check(n, c, h, w, block);
  if (n == 0 || c == 0 || h == 0 || w == 0) return;
  const int64_t sw = w * block, plane = h * w;
  each_plane(n * c * h * block, [&](int64_t row) {  // one output row per task
    const int64_t i = row % block;
    const int64_t hh = (row / block) % h;
    const int64_t ch = (row / (block * h)) % c;
    const int64_t img = row / (block * h * c);
    const int64_t depth_img = img * c * block * block * plane;
    const int64_t space_row = row * sw;  // (img, ch, hh * block + i) rows are consecutive
    for (int64_t ww = 0; ww < w; ++ww) {
      for (int64_t j = 0; j < block; ++j) {
        const int64_t dc = dcr ? (i * block + j) * c + ch : (ch * block + i) * block + j;
        const int64_t di = depth_img + dc * plane + hh * w + ww;
        const int64_t si = space_row + ww * block + j;
        if (to_space) dst[si] = src[di];
        else dst[di] = src[si];
      }
    }
  });
}

}  // namespace fastnn
