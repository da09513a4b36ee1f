// Small binding helpers shared by bind_conv.cpp, bind_pool_bn.cpp and bind_plan.cpp ([layers:
// conv, pool, batchnorm; the inference plan]), on top of common.h (whose c_f32 is the read-only input conversion).
#pragma once
#include <array>
#include <string>

#include "common.h"
#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

using Pair = std::array<int64_t, 2>;

// Conv2d geometry from the layer's hyper-parameters, range- and overflow-checked.
inline Conv2dGeom conv_geom(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t kh,
                            int64_t kw, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  Conv2dGeom g;
  g.n = n; g.c = c; g.h = h; g.w = w; g.k = k; g.kh = kh; g.kw = kw;
  g.sh = stride[0]; g.sw = stride[1]; g.ph = padding[0]; g.pw = padding[1];
  g.dh = dilation[0]; g.dw = dilation[1]; g.groups = groups;
  // Range-checked hyper-parameters, overflow-checked extents (0: no window fits, which
  // conv2d_check_geom reports with the shapes).
  g.set_out(h, w, "conv2d");
  conv2d_check_geom(g);
  return g;
}

// Pooling geometry the same way.
inline Pool2dGeom pool_geom(int64_t h, int64_t w, Pair kernel, Pair stride, Pair padding,
                            Pair dilation = {1, 1}, bool ceil_mode = false, bool count_pad = true) {
  Pool2dGeom g;
  g.h = h; g.w = w; g.kh = kernel[0]; g.kw = kernel[1];
  g.sh = stride[0]; g.sw = stride[1]; g.ph = padding[0]; g.pw = padding[1];
  g.dh = dilation[0]; g.dw = dilation[1];
  g.ceil_mode = ceil_mode;
  g.count_pad = count_pad;
  // Range-checked hyper-parameters, overflow-checked extents (0: no window fits, which
  // pool2d_check_geom reports with the shapes).
  g.set_out(h, w, "pool2d", ceil_mode);
  pool2d_check_geom(g);
  return g;
}

// An empty weight would reach the geometry check as "channels/kernel_size 0", naming no argument.
inline void check_nonempty_weight(const py::array& w, const char* layout) {
  if (w.size() == 0)
    throw py::value_error("weight: expected a non-empty " + std::string(layout) +
                          " array, got shape " + shape_str(w));
}

// Optional read-only vector of length n (None -> nullptr); `keep` holds the array alive.
inline const float* optional_vec(const py::handle& obj, const char* name, int64_t n,
                                 py::array_t<float>& keep) {
  if (obj.is_none()) return nullptr;
  keep = vec_f32(obj, name, n);
  return keep.data();
}

// A backward's input gradient of shape `input_shape` (N, C, H, W), written by fill(dx) with the
// GIL released.
template <class Fill>
py::array_t<float> input_grad(const std::array<int64_t, 4>& input_shape, const Fill& fill) {
  py::array_t<float> dx = new_array<float>(
      {input_shape[0], input_shape[1], input_shape[2], input_shape[3]}, "input gradient");
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    fill(dxp);
  }
  return dx;
}

}  // namespace fastnn
