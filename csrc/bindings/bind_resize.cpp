// fastnn._C resize and depth <-> space entry points: check shapes, release the GIL, call
// frame/resize.cpp.
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "bind_layers_common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using Pair = std::array<int64_t, 2>;
using Shape4 = std::array<int64_t, 4>;

int resize_mode(const std::string& mode) {
  if (mode == "nearest") return kResizeNearest;
  if (mode == "nearest-exact") return kResizeNearestExact;
  if (mode == "bilinear") return kResizeBilinear;
  throw py::value_error("mode: expected 'nearest', 'nearest-exact' or 'bilinear', got '" + mode +
                        "'");
}

Resize2d resize_geom(int64_t ih, int64_t iw, Pair size, const std::string& mode,
                     bool align_corners, std::array<double, 2> scales) {
  Resize2d r;
  r.ih = ih; r.iw = iw; r.oh = size[0]; r.ow = size[1];
  r.mode = resize_mode(mode);
  r.align_corners = align_corners;
  r.scale_h = scales[0]; r.scale_w = scales[1];
  resize2d_check(r);
  return r;
}

py::array_t<float> resize_fwd(const py::handle& x_obj, Pair size, const std::string& mode,
                              bool align_corners, std::array<double, 2> scales) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const Resize2d r = resize_geom(x.shape(2), x.shape(3), size, mode, align_corners, scales);
  py::array_t<float> y = new_array<float>({x.shape(0), x.shape(1), r.oh, r.ow}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    resize2d_forward(x.data(), x.shape(0) * x.shape(1), r, yp);
  }
  return y;
}

py::array_t<float> resize_bwd(const py::handle& dy_obj, Shape4 input_shape,
                              const std::string& mode, bool align_corners,
                              std::array<double, 2> scales) {
  for (int64_t d : input_shape)
    if (d < 0) throw py::value_error("input_shape: extents must be >= 0");
  if (input_shape[2] < 1 || input_shape[3] < 1)
    throw py::value_error("input_shape: expected a non-empty plane, got " +
                          std::to_string(input_shape[2]) + "x" + std::to_string(input_shape[3]));
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_ndim(dy, "grad_output", 4);
  if (dy.shape(2) < 1 || dy.shape(3) < 1)
    throw py::value_error("grad_output: expected a non-empty plane, got " +
                          std::to_string(dy.shape(2)) + "x" + std::to_string(dy.shape(3)));
  const Resize2d r = resize_geom(input_shape[2], input_shape[3], {dy.shape(2), dy.shape(3)},
                                 mode, align_corners, scales);
  check_shape(dy, "grad_output", {input_shape[0], input_shape[1], r.oh, r.ow});
  return input_grad(input_shape, [&](float* dx) {
    resize2d_backward(dy.data(), input_shape[0] * input_shape[1], r, dx);
  });
}

int64_t times(int64_t a, int64_t b, const char* what) {
  int64_t out = 0;
  if (!mul_ok(a, b, &out))
    throw py::value_error(std::string(what) + ": the extent overflows int64");
  return out;
}

bool dcr_mode(const std::string& mode) {
  if (mode == "CRD") return false;
  if (mode == "DCR") return true;
  throw py::value_error("mode: expected 'CRD' or 'DCR', got '" + mode + "'");
}

// depth (n, c * b * b, h, w) -> space (n, c, h * b, w * b).
py::array_t<float> d2s(const py::handle& x_obj, int64_t block, const std::string& mode) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const bool dcr = dcr_mode(mode);
  depth_space_check(x.shape(0), x.shape(1), x.shape(2), x.shape(3), block);
  const int64_t bb = times(block, block, "block");
  if (x.shape(1) % bb != 0)
    throw py::value_error("input: expected channels divisible by block**2 (" + std::to_string(bb) +
                          "), got " + std::to_string(x.shape(1)));
  const int64_t c = x.shape(1) / bb, h = x.shape(2), w = x.shape(3);
  py::array_t<float> y = new_array<float>(
      {x.shape(0), c, times(h, block, "height"), times(w, block, "width")}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    depth_space(x.data(), x.shape(0), c, h, w, block, dcr, true, yp);
  }
  return y;
}

// space (n, c, h * b, w * b) -> depth (n, c * b * b, h, w).
py::array_t<float> s2d(const py::handle& x_obj, int64_t block, const std::string& mode) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const bool dcr = dcr_mode(mode);
  depth_space_check(x.shape(0), x.shape(1), x.shape(2), x.shape(3), block);
  if (x.shape(2) % block != 0 || x.shape(3) % block != 0)
    throw py::value_error("input: expected height and width divisible by block (" +
                          std::to_string(block) + "), got " + std::to_string(x.shape(2)) + "x" +
                          std::to_string(x.shape(3)));
  const int64_t c = x.shape(1), h = x.shape(2) / block, w = x.shape(3) / block;
  py::array_t<float> y = new_array<float>(
      {x.shape(0), times(c, times(block, block, "block"), "channels"), h, w}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    depth_space(x.data(), x.shape(0), c, h, w, block, dcr, false, yp);
  }
  return y;
}

}  // namespace

void bind_resize(py::module_& m) {
  m.def("resize2d_forward", &resize_fwd, py::arg("x"), py::arg("size"), py::arg("mode"),
        py::arg("align_corners"), py::arg("scales"),
        "Resize (N, C, H, W) to size (OH, OW), mode 'nearest', 'nearest-exact' or 'bilinear' "
        "(PyTorch's rules); scales: the user's scale factors or 0 (input / output).");
  m.def("resize2d_backward", &resize_bwd, py::arg("dy"), py::arg("input_shape"), py::arg("mode"),
        py::arg("align_corners"), py::arg("scales"));
  m.def("depth_to_space", &d2s, py::arg("x"), py::arg("block"), py::arg("mode"),
        "(N, C*b*b, H, W) -> (N, C, H*b, W*b); mode 'CRD' (PixelShuffle) or 'DCR'.");
  m.def("space_to_depth", &s2d, py::arg("x"), py::arg("block"), py::arg("mode"),
        "(N, C, H*b, W*b) -> (N, C*b*b, H, W), the inverse of depth_to_space.");
}

}  // namespace fastnn
