// Pooling drivers: geometry checks and OpenMP over planes (batch x channels). The per-plane work
// is the ISA leaf (kernels/simd/pool_body.h), vectorised across the output width.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

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
  // Range checks on kernel, stride and padding; overflow-checked extents.
  const int64_t oh = window_out(g.h, g.kh, g.sh, g.ph, 1, "pool2d");
  const int64_t ow = window_out(g.w, g.kw, g.sw, g.pw, 1, "pool2d");
  require(2 * g.ph <= g.kh && 2 * g.pw <= g.kw,
          "pool2d: padding must be >= 0 and at most half the kernel size (" + str(g.kh) + ", " +
              str(g.kw) + "), got (" + str(g.ph) + ", " + str(g.pw) + ")");
  require(oh >= 1 && ow >= 1,
          "pool2d: kernel (" + str(g.kh) + ", " + str(g.kw) + ") is larger than the padded input (" +
              str(g.h + 2 * g.ph) + ", " + str(g.w + 2 * g.pw) + ")");
  require(g.oh == oh && g.ow == ow, "pool2d: output plane must be (" + str(oh) + ", " + str(ow) +
                                        "), got (" + str(g.oh) + ", " + str(g.ow) + ")");
  // Argmax indices and vector lane column indices are int32.
  int64_t plane = 0;
  require(!__builtin_mul_overflow(g.h, g.w, &plane) && plane < (int64_t(1) << 31) &&
              g.w + g.kw + 64 * g.sw < (int64_t(1) << 31),
          "pool2d: input plane too large (" + str(g.h) + "x" + str(g.w) + ")");
}

void maxpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& g, float* y,
                       int32_t* argmax) {
  pool2d_check_geom(g);
  const auto fn = kernels().f32_maxpool2d_plane;
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(planes, [&](int64_t p) { fn(x + p * in, y + p * out, argmax + p * out, g); });
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

void avgpool2d_forward(const float* x, int64_t planes, const Pool2dGeom& g, float* y) {
  pool2d_check_geom(g);
  const auto fn = kernels().f32_avgpool2d_plane;
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(planes, [&](int64_t p) { fn(x + p * in, y + p * out, g); });
}

void avgpool2d_backward(const float* dy, int64_t planes, const Pool2dGeom& g, float* dx) {
  pool2d_check_geom(g);
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
