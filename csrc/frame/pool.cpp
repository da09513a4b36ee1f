// Pooling drivers: geometry checks and OpenMP over planes (batch x channels). The per-plane work
// is the ISA leaf (kernels/simd/pool_body.h), vectorised across the output width.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// Parallel loop over [0, count) with a static schedule (same partition -> same bits).
template <class F>
void parallel_for(int64_t count, const F& body) {
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace

void pool2d_check_geom(const Pool2dGeom& g) {
  require(g.h >= 1 && g.w >= 1,
          "pool2d: input plane must be non-empty, got " + str(g.h) + "x" + str(g.w));
  // Range checks on kernel, stride, padding and dilation; overflow-checked extents.
  const auto [oh, ow] = g.out_size(g.h, g.w, "pool2d", g.ceil_mode);
  const int64_t eh = g.span_h(), ew = g.span_w();  // checked by out_size
  require(2 * g.ph <= eh && 2 * g.pw <= ew,
          "pool2d: padding must be >= 0 and at most half the (dilated) kernel size (" + str(eh) +
              ", " + str(ew) + "), got (" + str(g.ph) + ", " + str(g.pw) + ")");
  require(oh >= 1 && ow >= 1,
          "pool2d: kernel_size (" + str(eh) + ", " + str(ew) + ")" +
              (eh != g.kh || ew != g.kw ? " (dilated)" : "") + " is larger than the padded input (" +
              str(g.h + 2 * g.ph) + ", " + str(g.w + 2 * g.pw) + ")");
  require(g.oh == oh && g.ow == ow, "pool2d: output plane must be (" + str(oh) + ", " + str(ow) +
                                        "), got (" + str(g.oh) + ", " + str(g.ow) + ")");
  // A dilated window can fall entirely into the padding (its taps step over the input):
  // PyTorch returns -inf with an index outside the plane there; refused here instead.
  if (g.dh > 1 || g.dw > 1) {
    const int64_t dims[2][5] = {{g.oh, g.sh, g.ph, g.dh, g.h}, {g.ow, g.sw, g.pw, g.dw, g.w}};
    for (int a = 0; a < 2; ++a) {
      const int64_t* v = dims[a];
      for (int64_t o = 0; o < v[0]; ++o) {
        const int64_t lo = o * v[1] - v[2];
        const int64_t first = lo < 0 ? lo + (-lo + v[3] - 1) / v[3] * v[3] : lo;
        const int64_t end = std::min<int64_t>(lo + ((a ? g.kw : g.kh) - 1) * v[3] + 1, v[4]);
        require(first < end, std::string("pool2d: the dilated window of output ") +
                                 (a ? "column " : "row ") + str(o) +
                                 " covers only padding (no input element)");
      }
    }
  }
  // Argmax indices and vector lane column indices are int32.
  int64_t plane = 0;
  require(!__builtin_mul_overflow(g.h, g.w, &plane) && plane < (int64_t(1) << 31) &&
              g.w + ew + 64 * g.sw < (int64_t(1) << 31),
          "pool2d: input plane too large (" + str(g.h) + "x" + str(g.w) + ")");
}

namespace {

// Dilated max pooling, one plane, PyTorch's loop (aten MaxPoolKernel): the window starts at its
// first element inside the input, -inf before the first one seen, NaN wins, first maximum kept.
// Scalar on every ISA (dilated max pooling is rare: ONNX imports); dilation 1 takes the leaf.
void maxpool2d_plane_dilated(const float* x, float* y, int32_t* argmax, const Pool2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    int64_t ya = oy * g.sh - g.ph;
    const int64_t yb = std::min<int64_t>(ya + (g.kh - 1) * g.dh + 1, g.h);
    while (ya < 0) ya += g.dh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      int64_t xa = ox * g.sw - g.pw;
      const int64_t xb = std::min<int64_t>(xa + (g.kw - 1) * g.dw + 1, g.w);
      while (xa < 0) xa += g.dw;
      float best = -INFINITY;
      int64_t at = ya * g.w + xa;
      for (int64_t iy = ya; iy < yb; iy += g.dh)
        for (int64_t ix = xa; ix < xb; ix += g.dw) {
          const float v = x[iy * g.w + ix];
          if (v > best || v != v) {
            best = v;
            at = iy * g.w + ix;
          }
        }
      y[oy * g.ow + ox] = best;
      if (argmax) argmax[oy * g.ow + ox] = static_cast<int32_t>(at);
    }
  }
}

}  // namespace

void maxpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& g, float* y,
                       int32_t* argmax) {
  pool2d_check_geom(g);
  const auto fn = (g.dh == 1 && g.dw == 1) ? kernels().f32_maxpool2d_plane
                                           : &maxpool2d_plane_dilated;
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(planes, [&](int64_t p) {
    fn(x + p * in, y + p * out, argmax ? argmax + p * out : nullptr, g);
  });
}

void maxpool2d_backward(const float* dy, const int32_t* argmax, int64_t planes,
                        const Pool2dGeom& g, float* dx) {
  pool2d_check_geom(g);
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  std::atomic<bool> bad{false};
  parallel_for(planes, [&](int64_t p) {
    float* d = dx + p * in;
    std::memset(d, 0, sizeof(float) * in);
    const float* gy = dy + p * out;
    const int32_t* at = argmax + p * out;
    for (int64_t i = 0; i < out; ++i) {
      const int32_t j = at[i];
      if (j < 0 || j >= in) {  // not from maxpool2d_forward with this geometry
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      d[j] += gy[i];
    }
  });
  if (bad.load())
    throw std::out_of_range("maxpool2d_backward: argmax holds an index outside [0, " + str(in) + ")");
}

namespace {

// The geometry an average-pooling leaf reads: g with its per-column window extents in `cols`.
Pool2dGeom avg_geom(const Pool2dGeom& g, std::vector<float>& cols) {
  pool2d_check_geom(g);
  require(g.dh == 1 && g.dw == 1, "avgpool2d: dilation must be 1");
  cols.resize(static_cast<size_t>(g.ow));
  for (int64_t ox = 0; ox < g.ow; ++ox) {
    const int64_t x0 = ox * g.sw - g.pw;
    cols[ox] = static_cast<float>(g.count_pad
                                      ? std::min<int64_t>(x0 + g.kw, g.w + g.pw) - x0
                                      : std::min<int64_t>(x0 + g.kw, g.w) - std::max<int64_t>(x0, 0));
  }
  Pool2dGeom out = g;
  out.col_count = cols.data();
  return out;
}

}  // namespace

void avgpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& geom, float* y) {
  std::vector<float> cols;
  const Pool2dGeom g = avg_geom(geom, cols);
  const auto fn = kernels().f32_avgpool2d_plane;
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(planes, [&](int64_t p) { fn(x + p * in, y + p * out, g); });
}

void avgpool2d_backward(const float* dy, int64_t planes, const Pool2dGeom& geom, float* dx) {
  std::vector<float> cols;
  const Pool2dGeom g = avg_geom(geom, cols);
  const auto fn = kernels().f32_avgpool2d_plane_bwd;
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(planes, [&](int64_t p) {
    std::memset(dx + p * in, 0, sizeof(float) * in);
    fn(dy + p * out, dx + p * in, g);
  });
}

void global_avgpool_forward(const float* x, int64_t planes, int64_t plane, float* y) {
  require(plane >= 1, "global_avgpool: input plane must be non-empty");
  const auto moments = kernels().f32_row_moments;
  parallel_for(planes, [&](int64_t p) {
    float sum = 0.0f, sumsq = 0.0f;
    moments(x + p * plane, plane, 0.0f, &sum, &sumsq);
    y[p] = static_cast<float>(static_cast<double>(sum) / static_cast<double>(plane));
  });
}

void global_avgpool_backward(const float* dy, int64_t planes, int64_t plane, float* dx) {
  require(plane >= 1, "global_avgpool: input plane must be non-empty");
  parallel_for(planes, [&](int64_t p) {
    const float v = dy[p] / static_cast<float>(plane);
    std::fill(dx + p * plane, dx + (p + 1) * plane, v);
  });
}

}  // namespace fastnn
