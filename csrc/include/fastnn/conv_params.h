// Geometry of 2-D convolution and pooling (NCHW), passed from drivers to leaf kernels.
// Plain data; conv2d.cpp / pool.cpp fill and check them (conv2d_check_geom, pool2d_check_geom).
#pragma once
#include <array>
#include <cstdint>

namespace fastnn {

// The one window geometry of every 2-D convolution and pooling (float, transposed, quantized,
// sparse): kernel kh x kw, stride sh x sw, padding ph x pw, dilation dh x dw and the output
// extent oh x ow. Each path's geometry struct derives from it and adds its own extents.
struct Window2d {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t oh = 0, ow = 0;

  // The dilated kernel extents dh*(kh-1)+1, dw*(kw-1)+1 (no overflow once out_size checked them).
  int64_t span_h() const { return dh * (kh - 1) + 1; }
  int64_t span_w() const { return dw * (kw - 1) + 1; }
  // {oh, ow} over an h x w plane (csrc/frame/window.cpp):
  //   (size + 2*padding - dilation*(kernel-1) - 1) / stride + 1 per axis, or PyTorch's ceil_mode
  //   rule (pool_window_out); every hyper-parameter range-checked ("<op>: <name> must be in
  //   [lo, 2147483647], got v"), every step overflow-checked; 0 along an axis where no window
  //   fits (the caller reports that with its own shapes).
  std::array<int64_t, 2> out_size(int64_t h, int64_t w, const char* op,
                                  bool ceil_mode = false) const;
  // oh, ow = out_size(h, w, op, ceil_mode).
  void set_out(int64_t h, int64_t w, const char* op, bool ceil_mode = false) {
    const std::array<int64_t, 2> o = out_size(h, w, op, ceil_mode);
    oh = o[0];
    ow = o[1];
  }
};

// Convolution y = conv(x, w): x (n, c, h, w), w (k, c/groups, kh, kw), y (n, k, oh, ow) with
//   oh = (h + 2*ph - dh*(kh-1) - 1) / sh + 1   (and likewise ow).
// Output pixel (oy, ox) reads input (oy*sh - ph + ki*dh, ox*sw - pw + kj*dw); outside is zero.
struct Conv2dGeom : Window2d {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t k = 0;
  int64_t groups = 1;

  int64_t cg() const { return c / groups; }          // input channels per group
  int64_t kg() const { return k / groups; }          // output channels per group
  int64_t kdim() const { return cg() * kh * kw; }    // GEMM inner dimension per group
  int64_t in_plane() const { return h * w; }
  int64_t out_plane() const { return oh * ow; }
  bool is_pointwise() const {                        // 1x1, stride 1, no padding: a plain GEMM
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
  bool is_depthwise() const { return groups == c && groups > 1; }
  // The stride-1 convolution from this one's output plane to its input plane (the data gradient
  // as a convolution of the flipped kernel): planes exchanged, padding dilation*(kernel-1) - padding.
  Conv2dGeom transposed_plane() const {
    Conv2dGeom t = *this;
    t.h = oh; t.w = ow; t.oh = h; t.ow = w;
    t.ph = dh * (kh - 1) - ph;
    t.pw = dw * (kw - 1) - pw;
    return t;
  }
};

// Pooling over one h x w plane: window kh x kw, stride sh x sw, implicit padding ph x pw
// (-inf for max, 0 for average, which always divides by kh*kw as PyTorch's count_include_pad).
//   oh = (h + 2*ph - kh) / sh + 1   (and likewise ow); every window holds a real element
//   because ph <= kh/2 and pw <= kw/2.
// Dilation dh, dw: max pooling only.
struct Pool2dGeom : Window2d {
  int64_t h = 0, w = 0;
  bool ceil_mode = false;   // oh, ow rounded up (PyTorch's rule: the last window starts in the
                            // input or its left/top padding)
  bool count_pad = true;    // average pooling divides by the window clipped to the padded input
                            // (count_include_pad=True) or by its elements inside the input
  // Average pooling: the window's column extent per output column (ow values, set by the frame
  // once per call; the row extent is one scalar per output row, computed in the leaf).
  const float* col_count = nullptr;
};

}  // namespace fastnn
