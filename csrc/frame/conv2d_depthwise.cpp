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
  // Stride 1: dx is the correlation of dy with the flipped filter (padding dilation*(k-1) -
  // padding), i.e. the forward plane kernel, which sums each dx element in a register; the
  // scatter form would re-read rows it has just stored at a shifted offset.
  const bool by_forward = g.sh == 1 && g.sw == 1 && g.ph <= g.dh * (g.kh - 1) &&
                          g.pw <= g.dw * (g.kw - 1);
  Conv2dGeom gt = g;
  std::vector<float> flipped;
  if (dx && by_forward) {
    gt = g.transposed_plane();
    flipped.resize(static_cast<size_t>(wsize));
    for (int64_t o = 0; o < g.k; ++o)
      for (int64_t r = 0; r < taps; ++r) flipped[o * taps + taps - 1 - r] = w[o * taps + r];
  }
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> part(dx && by_forward && mult > 1 ? static_cast<size_t>(in) : 0);
#pragma omp for schedule(static)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t i = q / g.c, ci = q % g.c;
      float* dxq = dx ? dx + q * in : nullptr;
      if (dx && !by_forward) std::memset(dxq, 0, sizeof(float) * in);
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t o = ci * mult + m;
        const float* gy = dy + (i * g.k + o) * out;
        if (dx && by_forward) {
          float* dst = m == 0 ? dxq : part.data();
          t.f32_dwconv2d_plane(gy, flipped.data() + o * taps, 0.0f, dst, gt);
          if (m > 0)
            for (int64_t j = 0; j < in; ++j) dxq[j] += dst[j];
        } else if (dx) {
          t.f32_dwconv2d_plane_bwd_data(gy, w + o * taps, dxq, g);
        }
        if (dw)
          t.f32_dwconv2d_plane_bwd_weight(x + q * in, gy,
                                          dw_part.data() + thread_id() * wsize + o * taps, g);
      }
    }
  }
  if (dw)
    for (int s = 0; s < nt; ++s)
      for (int64_t j = 0; j < wsize; ++j) dw[j] += dw_part[s * wsize + j];
}

}  // namespace conv
}  // namespace fastnn
