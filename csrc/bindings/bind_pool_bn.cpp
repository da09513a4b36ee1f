// fastnn._C pooling, batch-norm and LRN entry points: check shapes, release the GIL, call
// pool.cpp / batchnorm.cpp / lrn.cpp. Running statistics and gradient buffers are updated in
// place, so they are taken with check_out (float32, C-contiguous, writeable): never a converted copy.
#include <pybind11/stl.h>

#include <array>

#include "bind_layers_common.h"
#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using Shape4 = std::array<int64_t, 4>;

// input_shape of a backward: the shape of the gradient it allocates.
void check_shape4(const Shape4& s) {
  int64_t count = 1;
  for (int64_t d : s) {
    if (d < 0) throw py::value_error("input_shape: extents must be >= 0");
    if (!mul_ok(count, d, &count))
      throw py::value_error("input_shape: " + shape_str(std::vector<int64_t>(s.begin(), s.end())) +
                            " has more than 2**63 elements");
  }
  check_allocatable(count, 4, "input_shape", "the input gradient of shape " +
                                                 shape_str(std::vector<int64_t>(s.begin(), s.end())));
}

py::tuple maxpool_fwd(const py::handle& x_obj, Pair kernel, Pair stride, Pair padding,
                      Pair dilation, bool ceil_mode) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const Pool2dGeom g =
      pool_geom(x.shape(2), x.shape(3), kernel, stride, padding, dilation, ceil_mode);
  const int64_t planes = x.shape(0) * x.shape(1);
  py::array_t<float> y = new_array<float>({x.shape(0), x.shape(1), g.oh, g.ow}, "output");
  py::array_t<int32_t> idx = new_array<int32_t>({x.shape(0), x.shape(1), g.oh, g.ow}, "argmax");
  float* yp = y.mutable_data();
  int32_t* ip = idx.mutable_data();
  {
    py::gil_scoped_release nogil;
    maxpool2d_forward(x.data(), planes, g, yp, ip);
  }
  return py::make_tuple(y, idx);
}

py::array_t<float> maxpool_bwd(const py::handle& dy_obj, const py::handle& idx_obj,
                               Shape4 input_shape, Pair kernel, Pair stride, Pair padding,
                               Pair dilation, bool ceil_mode) {
  check_shape4(input_shape);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  const Pool2dGeom g = pool_geom(input_shape[2], input_shape[3], kernel, stride, padding,
                                 dilation, ceil_mode);
  check_shape(dy, "grad_output", {input_shape[0], input_shape[1], g.oh, g.ow});
  py::array arr = as_array(idx_obj, "argmax");
  if (arr.dtype().kind() != 'i' || arr.itemsize() != 4)
    throw py::type_error("argmax: expected an int32 array, got dtype " +
                         std::string(py::str(arr.dtype())));
  auto idx = c_array<int32_t>(arr, "argmax");
  check_shape(idx, "argmax", {input_shape[0], input_shape[1], g.oh, g.ow});
  py::array_t<float> dx({input_shape[0], input_shape[1], input_shape[2], input_shape[3]});
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    maxpool2d_backward(dy.data(), idx.data(), input_shape[0] * input_shape[1], g, dxp);
  }
  return dx;
}

py::array_t<float> avgpool_fwd(const py::handle& x_obj, Pair kernel, Pair stride, Pair padding,
                               bool ceil_mode, bool count_include_pad) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const Pool2dGeom g = pool_geom(x.shape(2), x.shape(3), kernel, stride, padding, {1, 1},
                                 ceil_mode, count_include_pad);
  py::array_t<float> y = new_array<float>({x.shape(0), x.shape(1), g.oh, g.ow}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    avgpool2d_forward(x.data(), x.shape(0) * x.shape(1), g, yp);
  }
  return y;
}

py::array_t<float> avgpool_bwd(const py::handle& dy_obj, Shape4 input_shape, Pair kernel,
                               Pair stride, Pair padding, bool ceil_mode, bool count_include_pad) {
  check_shape4(input_shape);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  const Pool2dGeom g = pool_geom(input_shape[2], input_shape[3], kernel, stride, padding, {1, 1},
                                 ceil_mode, count_include_pad);
  check_shape(dy, "grad_output", {input_shape[0], input_shape[1], g.oh, g.ow});
  py::array_t<float> dx({input_shape[0], input_shape[1], input_shape[2], input_shape[3]});
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    avgpool2d_backward(dy.data(), input_shape[0] * input_shape[1], g, dxp);
  }
  return dx;
}

py::array_t<float> gap_fwd(const py::handle& x_obj) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  if (x.shape(2) * x.shape(3) == 0) throw py::value_error("input: empty spatial plane " + shape_str(x));
  py::array_t<float> y({x.shape(0), x.shape(1)});
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    global_avgpool_forward(x.data(), x.shape(0) * x.shape(1), x.shape(2) * x.shape(3), yp);
  }
  return y;
}

py::array_t<float> gap_bwd(const py::handle& dy_obj, Shape4 input_shape) {
  check_shape4(input_shape);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_shape(dy, "grad_output", {input_shape[0], input_shape[1]});
  const int64_t plane = input_shape[2] * input_shape[3];
  if (plane == 0) throw py::value_error("input_shape: empty spatial plane");
  py::array_t<float> dx({input_shape[0], input_shape[1], input_shape[2], input_shape[3]});
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    global_avgpool_backward(dy.data(), input_shape[0] * input_shape[1], plane, dxp);
  }
  return dx;
}

// x (n, c, *): returns (n, c, inner).
std::array<int64_t, 3> bn_dims(const py::array_t<float>& x) {
  if (x.ndim() < 2)
    throw py::value_error("input: expected at least 2 dimensions (N, C, ...), got shape " +
                          shape_str(x));
  int64_t inner = 1;
  for (py::ssize_t d = 2; d < x.ndim(); ++d) inner *= x.shape(d);
  return {x.shape(0), x.shape(1), inner};
}

py::tuple bn_fwd(const py::handle& x_obj, const py::handle& gamma_obj, const py::handle& beta_obj,
                 const py::handle& rm_obj, const py::handle& rv_obj, bool training, float momentum,
                 float eps, int act, float act_param) {
  if (act != 0 && !training)
    throw py::value_error("act: a fused activation needs training=True (batch statistics), got "
                          "training=False");
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [n, c, inner] = bn_dims(x);
  py::array_t<float> gk, bk, rmk, rvk;
  const float* gamma = optional_vec(gamma_obj, "weight", c, gk);
  const float* beta = optional_vec(beta_obj, "bias", c, bk);
  float* rm = nullptr;
  float* rv = nullptr;
  // Which statistics are given, eps, and enough values per channel: the frame checks.
  if (!rm_obj.is_none()) {
    rmk = check_out(rm_obj, "running_mean", {c});
    check_no_alias(rmk, "running_mean", {{gk, "weight"}, {bk, "bias"}});
    rm = rmk.mutable_data();
  }
  if (!rv_obj.is_none()) {
    rvk = check_out(rv_obj, "running_var", {c});
    check_no_alias(rvk, "running_var", {{gk, "weight"}, {bk, "bias"}});
    rv = rvk.mutable_data();
  }
  if ((rm && (overlaps(rmk, x) || (rv && overlaps(rmk, rvk)))) || (rv && overlaps(rvk, x)))
    throw py::value_error("running_mean/running_var: must not share memory with each other or input");
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  py::array_t<float> y(shape), mean({c}), invstd({c});
  float* yp = y.mutable_data();
  float* mp = mean.mutable_data();
  float* ip = invstd.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (training)
      batchnorm_forward_train(x.data(), n, c, inner, gamma, beta, eps, momentum, rm, rv, yp, mp, ip,
                              Epilogue{static_cast<Act>(act), act_param});
    else
      batchnorm_forward_eval(x.data(), n, c, inner, gamma, beta, rm, rv, eps, yp, mp, ip);
  }
  return py::make_tuple(y, mean, invstd);
}

py::object bn_bwd(const py::handle& dy_obj, const py::handle& x_obj, const py::handle& gamma_obj,
                  const py::handle& mean_obj, const py::handle& invstd_obj, bool training,
                  bool need_dx, const py::handle& dgamma_obj, const py::handle& dbeta_obj) {
  py::array_t<float> x = c_f32(x_obj, "input"), dy = c_f32(dy_obj, "grad_output");
  const auto [n, c, inner] = bn_dims(x);
  std::vector<int64_t> xs(x.shape(), x.shape() + x.ndim());
  check_shape(dy, "grad_output", xs);
  py::array_t<float> gk, mk, ik, dgk, dbk;
  const float* gamma = optional_vec(gamma_obj, "weight", c, gk);
  const float* mean = optional_vec(mean_obj, "save_mean", c, mk);
  const float* invstd = optional_vec(invstd_obj, "save_invstd", c, ik);
  if (!mean || !invstd)
    throw py::value_error("batchnorm backward: save_mean and save_invstd are required");
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  // Accumulated in place while the inputs are read: no aliasing (as linear_backward).
  const std::vector<std::pair<py::array, std::string>> read = {
      {x, "input"}, {dy, "grad_output"}, {gk, "weight"}, {mk, "save_mean"}, {ik, "save_invstd"}};
  if (!dgamma_obj.is_none()) {
    dgk = check_out(dgamma_obj, "weight.grad", {c});
    check_no_alias(dgk, "weight.grad", read);
    dgamma = dgk.mutable_data();
  }
  if (!dbeta_obj.is_none()) {
    dbk = check_out(dbeta_obj, "bias.grad", {c});
    check_no_alias(dbk, "bias.grad", read);
    if (dgamma) check_no_alias(dbk, "bias.grad", {{dgk, "weight.grad"}});
    dbeta = dbk.mutable_data();
  }
  py::array_t<float> dx;
  float* dxp = nullptr;
  if (need_dx) {
    dx = py::array_t<float>(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    dxp = dx.mutable_data();
  }
  if (n * c * inner > 0) {
    py::gil_scoped_release nogil;
    batchnorm_backward(dy.data(), x.data(), n, c, inner, gamma, mean, invstd, training, dxp,
                       dgamma, dbeta);
  }
  if (!need_dx) return py::none();
  return std::move(dx);
}

// LRN: the same (n, c, inner) view as batch norm. The scale is returned for the backward.
py::tuple lrn_fwd(const py::handle& x_obj, int64_t size, int64_t before, float alpha, float beta,
                  float k) {
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [n, c, inner] = bn_dims(x);
  lrn_check(n, c, inner, size, before, alpha, beta, k);
  const std::vector<int64_t> shape(x.shape(), x.shape() + x.ndim());
  py::array_t<float> y = new_array<float>(shape, "output");
  py::array_t<float> scale = new_array<float>(shape, "scale");
  float* yp = y.mutable_data();
  float* sp = scale.mutable_data();
  {
    py::gil_scoped_release nogil;
    lrn_forward(x.data(), n, c, inner, size, before, alpha, beta, k, yp, sp);
  }
  return py::make_tuple(y, scale);
}

py::array_t<float> lrn_bwd(const py::handle& dy_obj, const py::handle& x_obj,
                           const py::handle& scale_obj, int64_t size, int64_t before, float alpha,
                           float beta, float k) {
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [n, c, inner] = bn_dims(x);
  lrn_check(n, c, inner, size, before, alpha, beta, k);
  const std::vector<int64_t> shape(x.shape(), x.shape() + x.ndim());
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_shape(dy, "grad_output", shape);
  py::array_t<float> scale = c_f32(scale_obj, "scale");
  check_shape(scale, "scale", shape);
  py::array_t<float> dx = new_array<float>(shape, "input gradient");
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    lrn_backward(dy.data(), x.data(), scale.data(), n, c, inner, size, before, alpha, beta, k, dxp);
  }
  return dx;
}

Pad2d pad_geom(int64_t h, int64_t w, const std::array<int64_t, 4>& pads, int64_t mode,
               double value) {
  Pad2d p;
  p.h = h; p.w = w; p.top = pads[0]; p.bottom = pads[1]; p.left = pads[2]; p.right = pads[3];
  if (mode < 0 || mode > 3)
    throw py::value_error(
        "mode: expected 0 (constant), 1 (reflect), 2 (replicate) or 3 (circular), got " +
        std::to_string(mode));
  p.mode = static_cast<int>(mode);
  p.value = static_cast<float>(value);
  pad2d_check(p);
  return p;
}

py::array_t<float> pad_fwd(const py::handle& x_obj, const std::array<int64_t, 4>& pads,
                           int64_t mode, double value) {
  py::array_t<float> x = c_f32(x_obj, "input");
  check_ndim(x, "input", 4);
  const Pad2d p = pad_geom(x.shape(2), x.shape(3), pads, mode, value);
  py::array_t<float> y = new_array<float>(
      {x.shape(0), x.shape(1), p.h + p.top + p.bottom, p.w + p.left + p.right}, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    pad2d_forward(x.data(), x.shape(0) * x.shape(1), p, yp);
  }
  return y;
}

py::array_t<float> pad_bwd(const py::handle& dy_obj, Shape4 input_shape,
                           const std::array<int64_t, 4>& pads, int64_t mode) {
  check_shape4(input_shape);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  const Pad2d p = pad_geom(input_shape[2], input_shape[3], pads, mode, 0.0);
  check_shape(dy, "grad_output", {input_shape[0], input_shape[1], p.h + p.top + p.bottom,
                                  p.w + p.left + p.right});
  return input_grad(input_shape, [&](float* dx) {
    pad2d_backward(dy.data(), input_shape[0] * input_shape[1], p, dx);
  });
}

}  // namespace

void bind_pool_bn(py::module_& m) {
  m.def("pad2d_forward", &pad_fwd, py::arg("x"), py::arg("pads"), py::arg("mode"),
        py::arg("value") = 0.0,
        "Pad (N, C, H, W) by pads = (top, bottom, left, right); mode 0 constant, 1 reflect, "
        "2 replicate, 3 circular.");
  m.def("pad2d_backward", &pad_bwd, py::arg("dy"), py::arg("input_shape"), py::arg("pads"),
        py::arg("mode"));
  const Pair one{1, 1};
  m.def("maxpool2d_forward", &maxpool_fwd, py::arg("x"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation") = one, py::arg("ceil_mode") = false);
  m.def("maxpool2d_backward", &maxpool_bwd, py::arg("dy"), py::arg("argmax"),
        py::arg("input_shape"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation") = one, py::arg("ceil_mode") = false);
  m.def("avgpool2d_forward", &avgpool_fwd, py::arg("x"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  m.def("avgpool2d_backward", &avgpool_bwd, py::arg("dy"), py::arg("input_shape"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true);
  m.def("global_avgpool_forward", &gap_fwd, py::arg("x"));
  m.def("global_avgpool_backward", &gap_bwd, py::arg("dy"), py::arg("input_shape"));
  m.def("lrn_forward", &lrn_fwd, py::arg("x"), py::arg("size"), py::arg("before"),
        py::arg("alpha"), py::arg("beta"), py::arg("k"),
        "Local response norm across channels of (N, C, ...): returns (y, scale).");
  m.def("lrn_backward", &lrn_bwd, py::arg("dy"), py::arg("x"), py::arg("scale"), py::arg("size"),
        py::arg("before"), py::arg("alpha"), py::arg("beta"), py::arg("k"));
  m.def("batchnorm_forward", &bn_fwd, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
        py::arg("momentum"), py::arg("eps"), py::arg("act") = 0, py::arg("act_param") = 0.0f,
        "act: 0, or an activation code the GEMM epilogue fuses (fastnn._C.Unary relu .. tanh), "
        "applied to y in the same pass (training only).");
  m.def("batchnorm_backward", &bn_bwd, py::arg("dy"), py::arg("x"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("need_dx"),
        py::arg("dweight"), py::arg("dbias"));
}

}  // namespace fastnn
