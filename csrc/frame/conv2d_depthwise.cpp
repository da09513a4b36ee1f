// Depthwise convolution (groups == in_channels): one filter per (input plane, multiplier), run
// by the direct per-plane leaves (kernels/simd/dwconv_body.h). OpenMP over planes; the weight
// gradient goes to per-thread buffers summed in thread order (deterministic per thread count).
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_parts.h"

namespace fastnn {
namespace conv {

void depthwise_forward(const float* x, const float* w, const float* bias, float* y,
                       const Conv2dGeom& g) {
  const auto fn = kernels().f32_dwconv2d_plane;
  const int64_t mult = g.kg(), in = g.in_plane(), out = g.out_plane(), taps = g.kh * g.kw;
  const int64_t planes = g.n * g.k;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(planes, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t i = q / g.k, o = q % g.k;
    fn(x + (i * g.c + o / mult) * in, w + o * taps, bias ? bias[o] : 0.0f, y + q * out, g);
  }
}

void depthwise_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                        const Conv2dGeom& g) {
  const KernelTable& t = kernels();
  const int64_t mult = g.kg(), in = g.in_plane(), out = g.out_plane(), taps = g.kh * g.kw;
  const int64_t planes = g.n * g.c;  // one input plane and its mult output planes per task
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(planes, 1)));
  const int64_t wsize = g.k * taps;
  std::vector<float> dw_part(dw ? static_cast<size_t>(nt * wsize) : 0, 0.0f);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t i = q / g.c, ci = q % g.c;
    if (dx) std::memset(dx + q * in, 0, sizeof(float) * in);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t o = ci * mult + m;
      const float* gy = dy + (i * g.k + o) * out;
      if (dx) t.f32_dwconv2d_plane_bwd_data(gy, w + o * taps, dx + q * in, g);
      if (dw)
        t.f32_dwconv2d_plane_bwd_weight(x + q * in, gy,
                                        dw_part.data() + thread_id() * wsize + o * taps, g);
    }
  }
  if (dw)
    for (int s = 0; s < nt; ++s)
      for (int64_t j = 0; j < wsize; ++j) dw[j] += dw_part[s * wsize + j];
}

}  // namespace conv
}  // namespace fastnn
