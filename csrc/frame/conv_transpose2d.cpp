// ConvTranspose2d drivers: the adjoint of conv2d (conv2d.cpp) whose input is this layer's output.
// With geometry g of that conv (c = out channels, k = in channels, h x w = this layer's output),
// the layer's input x (n, k, xh, xw) is the conv's output -- except that an output_padding of at
// least the stride (allowed when it is below the dilation) adds output rows or columns no conv
// window starts in: the conv over h x w then has g.oh > xh (or g.ow > xw) outputs. Those are taken
// as zeros (forward, dW) or dropped (dX), which is exactly PyTorch's definition of the layer.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// The output_padding that makes an input extent x give output extent `out` along one axis:
// out - ((x - 1)*stride - 2*padding + dilation*(kernel - 1) + 1); must be in [0, max(stride,
// dilation)) (transposed_out's rule). Overflow (an absurd x) counts as a mismatch.
bool output_padding_ok(int64_t x, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation) {
  int64_t base = 0;
  if (x < 1 || __builtin_mul_overflow(x - 1, stride, &base) ||
      __builtin_add_overflow(base, dilation * (kernel - 1) + 1 - 2 * padding, &base))
    return false;
  const int64_t op = out - base;  // out, base > -2**33 and < 2**63: no overflow
  return op >= 0 && op < std::max(stride, dilation);
}

void check_input_plane(const Conv2dGeom& g, int64_t xh, int64_t xw) {
  conv2d_check_geom(g);  // also bounds every hyper-parameter (window_out)
  if (!(xh <= g.oh && xw <= g.ow && output_padding_ok(xh, g.h, g.kh, g.sh, g.ph, g.dh) &&
        output_padding_ok(xw, g.w, g.kw, g.sw, g.pw, g.dw)))
    throw std::invalid_argument("conv_transpose2d: input plane (" + str(xh) + ", " + str(xw) +
                                ") does not give an output of (" + str(g.h) + ", " + str(g.w) +
                                ") with this kernel, stride, padding and dilation");
}

// planes of xh x xw -> planes of oh x ow, zero-filled past the source.
std::vector<float> pad_planes(const float* x, int64_t planes, int64_t xh, int64_t xw, int64_t oh,
                              int64_t ow) {
  std::vector<float> out(static_cast<size_t>(planes * oh * ow), 0.0f);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < xh; ++r)
      std::copy(x + (p * xh + r) * xw, x + (p * xh + r + 1) * xw, out.data() + (p * oh + r) * ow);
  return out;
}

}  // namespace

void conv_transpose2d_forward(const float* x, int64_t xh, int64_t xw, const float* w,
                              const float* bias, float* y, const Conv2dGeom& g) {
  check_input_plane(g, xh, xw);
  if (xh == g.oh && xw == g.ow) return conv2d_backward(nullptr, x, w, y, nullptr, nullptr, g, bias);
  const std::vector<float> xp = pad_planes(x, g.n * g.k, xh, xw, g.oh, g.ow);
  conv2d_backward(nullptr, xp.data(), w, y, nullptr, nullptr, g, bias);
}

void conv_transpose2d_backward(const float* x, int64_t xh, int64_t xw, const float* dy,
                               const float* w, float* dx, float* dw, float* db,
                               const Conv2dGeom& g) {
  check_input_plane(g, xh, xw);
  if (db) channel_sum_accumulate(dy, g.n, g.c, g.h * g.w, db);
  const bool same = xh == g.oh && xw == g.ow;
  if (dx) {
    if (same) {
      conv2d_forward(dy, w, nullptr, dx, g);
    } else {
      std::vector<float> full(static_cast<size_t>(g.n * g.k * g.oh * g.ow));
      conv2d_forward(dy, w, nullptr, full.data(), g);
      for (int64_t p = 0; p < g.n * g.k; ++p)
        for (int64_t r = 0; r < xh; ++r) {
          const float* src = full.data() + (p * g.oh + r) * g.ow;
          std::copy(src, src + xw, dx + (p * xh + r) * xw);
        }
    }
  }
  if (dw) {
    if (same) {
      conv2d_backward(dy, x, nullptr, nullptr, dw, nullptr, g);
    } else {
      const std::vector<float> xp = pad_planes(x, g.n * g.k, xh, xw, g.oh, g.ow);
      conv2d_backward(dy, xp.data(), nullptr, nullptr, dw, nullptr, g);
    }
  }
}

}  // namespace fastnn
