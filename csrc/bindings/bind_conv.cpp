// fastnn._C conv2d_* / conv_transpose2d_*: check shapes, release the GIL, call conv2d.cpp.
// Inputs of any float dtype or layout are accepted (copied to C-contiguous float32 when needed);
// gradient buffers the kernels accumulate into are taken as they are (check_out: float32,
// C-contiguous, writeable, exact shape) so the update reaches the caller's array.
#include <pybind11/stl.h>

#include <array>

#include "bind_layers_common.h"
#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {


void check_groups(int64_t groups, int64_t channels, const char* what) {
  if (groups < 1 || groups > kMaxWindowParam || channels % groups != 0)
    throw py::value_error("groups: expected >= 1 and dividing " + std::string(what) + " (" +
                          std::to_string(channels) + "), got " + std::to_string(groups));
}

// Optional accumulated gradient buffer (None: not wanted).
float* grad_buffer(const py::handle& obj, const char* name, const std::vector<int64_t>& shape,
                   py::array_t<float>& keep) {
  if (obj.is_none()) return nullptr;
  keep = check_out(obj, name, shape);
  return keep.mutable_data();
}

// Gradient buffers are accumulated while input, weight and grad_output are read: no aliasing.
void check_grad_aliasing(const float* dw, const py::array& dwk, const float* db,
                         const py::array& dbk, const py::array& x, const py::array& w,
                         const py::array& dy) {
  const std::vector<std::pair<py::array, std::string>> read = {
      {x, "input"}, {w, "weight"}, {dy, "grad_output"}};
  if (dw) check_no_alias(dwk, "weight.grad", read);
  if (db) check_no_alias(dbk, "bias.grad", read);
  if (dw && db) check_no_alias(dbk, "bias.grad", {{dwk, "weight.grad"}});
}

// Conv2d: x (n, c, h, w), w (k, c/groups, kh, kw) -> y (n, k, oh, ow).
py::array_t<float> conv2d_fwd(const py::handle& x_obj, const py::handle& w_obj,
                              const py::handle& b_obj, Pair stride, Pair padding, Pair dilation,
                              int64_t groups, const std::string& algorithm) {
  const ConvAlgo algo = conv_algo_from_name(algorithm);
  py::array_t<float> x = c_f32(x_obj, "input"), w = c_f32(w_obj, "weight");
  check_ndim(x, "input", 4);
  check_ndim(w, "weight", 4);
  check_nonempty_weight(w, "(out_channels, in_channels / groups, kh, kw)");
  const int64_t k = w.shape(0);
  const Conv2dGeom g = conv_geom(x.shape(0), x.shape(1), x.shape(2), x.shape(3), k, w.shape(2),
                                 w.shape(3), stride, padding, dilation, groups);  // checks groups
  check_shape(w, "weight", {-1, g.cg(), -1, -1});
  py::array_t<float> b;
  const float* bias = optional_vec(b_obj, "bias", k, b);
  py::array_t<float> y = new_array<float>({g.n, g.k, g.oh, g.ow}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    conv2d_forward(x.data(), w.data(), bias, yp, g, algo);
  }
  return y;
}

// Gradients of conv2d_fwd: returns dx (or None); accumulates into dw/db when given.
py::object conv2d_bwd(const py::handle& x_obj, const py::handle& dy_obj, const py::handle& w_obj,
                      Pair stride, Pair padding, Pair dilation, int64_t groups, bool need_dx,
                      const py::handle& dw_obj, const py::handle& db_obj,
                      const std::string& algorithm) {
  const ConvAlgo algo = conv_algo_from_name(algorithm);
  py::array_t<float> x = c_f32(x_obj, "input"), w = c_f32(w_obj, "weight");
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_ndim(x, "input", 4);
  check_ndim(w, "weight", 4);
  check_nonempty_weight(w, "(out_channels, in_channels / groups, kh, kw)");
  const Conv2dGeom g = conv_geom(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0),
                                 w.shape(2), w.shape(3), stride, padding, dilation, groups);
  check_shape(w, "weight", {-1, g.cg(), -1, -1});
  check_shape(dy, "grad_output", {g.n, g.k, g.oh, g.ow});
  py::array_t<float> dwk, dbk;
  float* dw = grad_buffer(dw_obj, "weight.grad", {g.k, g.cg(), g.kh, g.kw}, dwk);
  float* db = grad_buffer(db_obj, "bias.grad", {g.k}, dbk);
  check_grad_aliasing(dw, dwk, db, dbk, x, w, dy);
  py::array_t<float> dx;
  float* dxp = nullptr;
  if (need_dx) {
    dx = py::array_t<float>({g.n, g.c, g.h, g.w});
    dxp = dx.mutable_data();
  }
  {
    py::gil_scoped_release nogil;
    conv2d_backward(x.data(), dy.data(), w.data(), dxp, dw, db, g, nullptr, algo);
  }
  if (!need_dx) return py::none();
  return std::move(dx);
}

// ConvTranspose2d is the adjoint of the conv whose input is this layer's output:
// conv geometry with c = out channels, k = in channels, (h, w) = this layer's output size.
// (The conv's output plane g.oh x g.ow may exceed the input's by the rows an output_padding
// >= stride adds: csrc/frame/conv_transpose2d.cpp.)
Conv2dGeom transpose_geom(const py::array_t<float>& x, const py::array_t<float>& w, Pair stride,
                          Pair padding, Pair output_padding, Pair dilation, int64_t groups) {
  check_ndim(x, "input", 4);
  check_ndim(w, "weight", 4);
  check_nonempty_weight(w, "(in_channels, out_channels / groups, kh, kw)");
  check_groups(groups, x.shape(1), "in_channels");
  check_shape(w, "weight", {x.shape(1), -1, -1, -1});
  const int64_t kh = w.shape(2), kw = w.shape(3);
  // Range checks on every hyper-parameter (ValueError naming it), overflow-checked arithmetic.
  const int64_t oh = transposed_out(x.shape(2), kh, stride[0], padding[0], dilation[0],
                                    output_padding[0], "conv_transpose2d");
  const int64_t ow = transposed_out(x.shape(3), kw, stride[1], padding[1], dilation[1],
                                    output_padding[1], "conv_transpose2d");
  if (oh < 1 || ow < 1)
    throw py::value_error("conv_transpose2d: output size (" + std::to_string(oh) + ", " +
                          std::to_string(ow) + ") is too small for input " + shape_str(x));
  int64_t out_channels = 0;
  if (!mul_ok(w.shape(1), groups, &out_channels))
    throw py::value_error("groups: out_channels = weight.shape[1] * groups overflows int64");
  return conv_geom(x.shape(0), out_channels, oh, ow, x.shape(1), kh, kw, stride, padding, dilation,
                   groups);
}

py::array_t<float> conv_transpose2d_fwd(const py::handle& x_obj, const py::handle& w_obj,
                                        const py::handle& b_obj, Pair stride, Pair padding,
                                        Pair output_padding, Pair dilation, int64_t groups) {
  py::array_t<float> x = c_f32(x_obj, "input"), w = c_f32(w_obj, "weight");
  const Conv2dGeom g = transpose_geom(x, w, stride, padding, output_padding, dilation, groups);
  py::array_t<float> b;
  const float* bias = optional_vec(b_obj, "bias", g.c, b);
  py::array_t<float> y = new_array<float>({g.n, g.c, g.h, g.w}, "output");
  float* yp = y.mutable_data();
  const int64_t xh = x.shape(2), xw = x.shape(3);
  {
    py::gil_scoped_release nogil;
    conv_transpose2d_forward(x.data(), xh, xw, w.data(), bias, yp, g);
  }
  return y;
}

py::object conv_transpose2d_bwd(const py::handle& x_obj, const py::handle& dy_obj,
                                const py::handle& w_obj, Pair stride, Pair padding,
                                Pair output_padding, Pair dilation, int64_t groups, bool need_dx,
                                const py::handle& dw_obj, const py::handle& db_obj) {
  py::array_t<float> x = c_f32(x_obj, "input"), w = c_f32(w_obj, "weight");
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  const Conv2dGeom g = transpose_geom(x, w, stride, padding, output_padding, dilation, groups);
  check_shape(dy, "grad_output", {g.n, g.c, g.h, g.w});
  py::array_t<float> dwk, dbk;
  float* dw = grad_buffer(dw_obj, "weight.grad", {g.k, g.cg(), g.kh, g.kw}, dwk);
  float* db = grad_buffer(db_obj, "bias.grad", {g.c}, dbk);
  check_grad_aliasing(dw, dwk, db, dbk, x, w, dy);
  const int64_t xh = x.shape(2), xw = x.shape(3);
  py::array_t<float> dx;
  float* dxp = nullptr;
  if (need_dx) {
    dx = py::array_t<float>({g.n, g.k, xh, xw});
    dxp = dx.mutable_data();
  }
  {
    py::gil_scoped_release nogil;
    conv_transpose2d_backward(x.data(), xh, xw, dy.data(), w.data(), dxp, dw, db, g);
  }
  if (!need_dx) return py::none();
  return std::move(dx);
}

// Conv2d(algorithm=...)'s check at construction: the algorithm's name and whether it can run a
// layer of these hyper-parameters (conv2d_check_algorithm); returns the name.
std::string conv2d_check_algorithm_py(const std::string& algorithm, Pair kernel_size,
                                      Pair stride, Pair dilation, int64_t groups,
                                      int64_t in_channels) {
  const ConvAlgo algo = conv_algo_from_name(algorithm);
  Conv2dGeom g;
  g.kh = kernel_size[0]; g.kw = kernel_size[1]; g.sh = stride[0]; g.sw = stride[1];
  g.dh = dilation[0]; g.dw = dilation[1]; g.groups = groups; g.c = in_channels;
  conv2d_check_algorithm(algo, g);
  return conv_algo_name(algo);
}

// The algorithm the "auto" rule (or a forced one) runs for an input of this shape.
std::string conv2d_algorithm_for(const std::string& algorithm, std::array<int64_t, 4> x_shape,
                                 std::array<int64_t, 4> w_shape, Pair stride, Pair padding,
                                 Pair dilation, int64_t groups) {
  const ConvAlgo algo = conv_algo_from_name(algorithm);
  check_groups(groups, x_shape[1], "in_channels");
  if (x_shape[1] / groups != w_shape[1])
    throw py::value_error("weight: expected in_channels / groups = " +
                          std::to_string(x_shape[1] / groups) + " in dimension 1, got " +
                          std::to_string(w_shape[1]));
  const Conv2dGeom g = conv_geom(x_shape[0], x_shape[1], x_shape[2], x_shape[3], w_shape[0],
                                 w_shape[2], w_shape[3], stride, padding, dilation, groups);
  conv2d_check_algorithm(algo, g);
  return conv_algo_name(conv2d_choose_algorithm(algo, g));
}

}  // namespace

// The output plane (oh, ow) of a window over an h x w plane: Window2d::out_size, for the Python
// code that needs a shape before its call (a preallocated output buffer); 0 where no window fits.
Pair window_out_size(Pair size, Pair kernel, Pair stride, Pair padding, Pair dilation,
                     bool ceil_mode) {
  Window2d win;
  win.kh = kernel[0]; win.kw = kernel[1]; win.sh = stride[0]; win.sw = stride[1];
  win.ph = padding[0]; win.pw = padding[1]; win.dh = dilation[0]; win.dw = dilation[1];
  const std::array<int64_t, 2> o = win.out_size(size[0], size[1], "window_out_size", ceil_mode);
  return {o[0], o[1]};
}

void bind_conv(py::module_& m) {
  m.def("window_out_size", &window_out_size, py::arg("size"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation") = Pair{1, 1},
        py::arg("ceil_mode") = false);
  m.def("conv2d_check_algorithm", &conv2d_check_algorithm_py, py::arg("algorithm"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("dilation"), py::arg("groups"),
        py::arg("in_channels"));
  m.def("conv2d_algorithm_for", &conv2d_algorithm_for, py::arg("algorithm"), py::arg("x_shape"),
        py::arg("w_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"));
  m.def("conv2d_forward", &conv2d_fwd, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("algorithm") = "auto");
  m.def("conv2d_backward", &conv2d_bwd, py::arg("x"), py::arg("dy"), py::arg("w"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("need_dx"), py::arg("dw"), py::arg("db"), py::arg("algorithm") = "auto");
  m.def("conv_transpose2d_forward", &conv_transpose2d_fwd, py::arg("x"), py::arg("w"),
        py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"),
        py::arg("dilation"), py::arg("groups"));
  m.def("conv_transpose2d_backward", &conv_transpose2d_bwd, py::arg("x"), py::arg("dy"),
        py::arg("w"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("need_dx"), py::arg("dw"), py::arg("db"));
}

}  // namespace fastnn
