// Depthwise convolution over one plane (forward and both adjoints): the plain reference, one
// output pixel and one filter tap at a time (contracts: kernel_table.h; geometry: conv_params.h).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"
#include "window.h"

namespace fastnn {
namespace ref {

void f32_dwconv2d_plane(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      float acc = bias;
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t t) { acc += w[t] * x[i]; });
      y[oy * g.ow + ox] = acc;
    }
}

// dx(iy, ix) += w[t] * dy(oy, ox) for every output pixel and tap t that reads (iy, ix).
void f32_dwconv2d_plane_bwd_data(const float* dy, const float* w, float* dx, const Conv2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const float grad = dy[oy * g.ow + ox];
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t t) { dx[i] += grad * w[t]; });
    }
}

// dw[t] += sum over output pixels of dy(oy, ox) * x(tap t of (oy, ox)), summed in double.
void f32_dwconv2d_plane_bwd_weight(const float* x, const float* dy, float* dw, const Conv2dGeom& g) {
  std::vector<double> acc(static_cast<size_t>(g.kh * g.kw), 0.0);
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const double grad = dy[oy * g.ow + ox];
      window_taps(g, g.h, g.w, oy, ox, [&](int64_t i, int64_t t) { acc[t] += grad * x[i]; });
    }
  for (size_t t = 0; t < acc.size(); ++t) dw[t] += static_cast<float>(acc[t]);
}

}  // namespace ref
}  // namespace fastnn
