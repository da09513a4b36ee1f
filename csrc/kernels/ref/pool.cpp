// Max/average pooling over one plane: the plain reference, one output pixel at a time
// (contracts: kernel_table.h; geometry: conv_params.h).
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"
#include "window.h"

namespace fastnn {
namespace ref {

// PyTorch's rule: the first tap inside the input is the starting maximum; a later tap replaces
// it when greater or NaN (so NaN wins and, among equal maxima, the first is kept).
void f32_maxpool2d_plane(const float* x, float* y, int32_t* argmax, const Pool2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      float best = -INFINITY;
      int64_t at = -1;
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t) {
        if (at < 0 || x[i] > best || std::isnan(x[i])) {
          best = x[i];
          at = i;
        }
      });
      y[oy * g.ow + ox] = best;
      if (argmax) argmax[oy * g.ow + ox] = static_cast<int32_t>(at);
    }
}

namespace {

// The divisor of output (oy, ox): the window's rows inside the padded input (count_pad) or the
// input, times its column count from the frame (g.col_count[ox], the same rule along x).
float avg_divisor(const Pool2dGeom& g, int64_t oy, int64_t ox) {
  int64_t rows = 0;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const int64_t iy = oy * g.sh - g.ph + ki;
    rows += g.count_pad ? (iy < g.h + g.ph) : (iy >= 0 && iy < g.h);
  }
  return static_cast<float>(rows) * g.col_count[ox];
}

}  // namespace

void f32_avgpool2d_plane(const float* x, float* y, const Pool2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      float sum = 0.0f;
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t) { sum += x[i]; });
      y[oy * g.ow + ox] = sum / avg_divisor(g, oy, ox);
    }
}

void f32_avgpool2d_plane_bwd(const float* dy, float* dx, const Pool2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const float share = dy[oy * g.ow + ox] / avg_divisor(g, oy, ox);
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t) { dx[i] += share; });
    }
}

}  // namespace ref
}  // namespace fastnn
