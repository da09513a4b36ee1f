// The taps of one 2-D window, for the plain references of pooling and depthwise convolution
// (pool.cpp, dwconv.cpp): output pixel (oy, ox) reads input (oy*sh - ph + ki*dh, ox*sw - pw + kj*dw)
// for ki < kh, kj < kw (conv_params.h); taps outside the h x w input are padding and skipped.
#pragma once

#include <cstdint>

#include "fastnn/conv_params.h"

namespace fastnn {
namespace ref {

// f(input index iy*w + ix, tap index ki*kw + kj) for each tap of (oy, ox) inside the input,
// taps in row-major order.
template <class F>
void window_taps(const Window2d& g, int64_t h, int64_t w, int64_t oy, int64_t ox, F&& f) {
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
    if (iy < 0 || iy >= h) continue;
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const int64_t ix = ox * g.sw - g.pw + kj * g.dw;
      if (ix >= 0 && ix < w) f(iy * w + ix, ki * g.kw + kj);
    }
  }
}

}  // namespace ref
}  // namespace fastnn
