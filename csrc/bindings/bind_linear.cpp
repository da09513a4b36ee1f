// fastnn._C linear_forward / linear_backward / colsum_accumulate: check, release the GIL, call.
#include "bind_enum.h"
#include "fastnn/ops.h"
#include "layers_util.h"

namespace fastnn {

namespace {

// The input as a 2-D float32 view; strided inputs are read in place by the GEMM.
py::array_t<float> linear_input(const py::handle& obj, const std::string& layer, int64_t in) {
  py::array_t<float> x = as_f32(obj, arg_name(layer, "input").c_str());
  if (x.ndim() != 2 || x.shape(1) != in)
    throw py::value_error(arg_name(layer, "input") + ": expected shape " + shape_str({-1, in}) +
                          ", got " + shape_str(x));
  return x;
}

// The weight (out, in) as it is: a parameter is never silently copied (common.h exact_f32).
py::array_t<float> linear_weight(const py::handle& obj, const std::string& layer) {
  const std::string name = arg_name(layer, "weight");
  if (py::isinstance<py::array>(obj)) check_ndim(py::reinterpret_borrow<py::array>(obj), name, 2);
  return exact_f32(obj, name, {-1, -1});
}

py::array_t<float> linear_forward_py(const py::handle& x_obj, const py::handle& w_obj,
                                     const py::handle& b_obj, const std::optional<Unary>& act,
                                     float act_param,
                                     const std::string& layer, bool bf16) {
  py::array_t<float> w = linear_weight(w_obj, layer);
  const int64_t out = w.shape(0), in = w.shape(1);
  py::array_t<float> x = linear_input(x_obj, layer, in);
  const bool has_bias = !b_obj.is_none();
  py::array_t<float> b;
  if (has_bias) b = exact_f32(b_obj, arg_name(layer, "bias"), {out});
  const Epilogue ep = gemm_epilogue(act, act_param, arg_name(layer, "act"));
  const MatView xv = mat_view(x);
  py::array_t<float> y = new_array<float>({xv.rows, out}, arg_name(layer, "output"));
  const float* bp = has_bias ? b.data() : nullptr;
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    linear_forward(xv, w.data(), bp, out, ep, yp, bf16);
  }
  return y;
}

py::object linear_backward_py(const py::handle& g_obj, const py::handle& x_obj,
                                      const py::handle& w_obj, const py::handle& gw_obj,
                                      const py::handle& gb_obj, bool need_input_grad,
                                      const std::string& layer) {
  py::array_t<float> w = linear_weight(w_obj, layer);
  const int64_t out = w.shape(0), in = w.shape(1);
  py::array_t<float> x = linear_input(x_obj, layer, in);
  const int64_t rows = x.shape(0);
  py::array_t<float> g = c_f32(g_obj, arg_name(layer, "grad_out"));
  check_shape(g, arg_name(layer, "grad_out").c_str(), {rows, out});
  float* gw = nullptr;
  float* gb = nullptr;
  py::array_t<float> gwa, gba;
  if (!gw_obj.is_none()) {
    gwa = check_out(gw_obj, arg_name(layer, "weight.grad").c_str(), {out, in});
    if (overlaps(gwa, w) || overlaps(gwa, x) || overlaps(gwa, g))
      throw py::value_error(arg_name(layer, "weight.grad") +
                            ": must not share memory with the weight, input or grad_out");
    gw = gwa.mutable_data();
  }
  if (!gb_obj.is_none()) {
    gba = check_out(gb_obj, arg_name(layer, "bias.grad").c_str(), {out});
    if (overlaps(gba, g))
      throw py::value_error(arg_name(layer, "bias.grad") + ": must not share memory with grad_out");
    gb = gba.mutable_data();
  }
  py::array_t<float> dx;
  float* dxp = nullptr;
  if (need_input_grad) {
    dx = py::array_t<float>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(in)});
    dxp = dx.mutable_data();
  }
  const MatView xv = mat_view(x);
  {
    py::gil_scoped_release nogil;
    linear_backward(g.data(), xv, w.data(), out, dxp, gw, gb);
  }
  if (!need_input_grad) return py::none();
  return std::move(dx);
}

void colsum_accumulate_py(const py::handle& x_obj, const py::handle& out_obj) {
  py::array_t<float> x = c_f32(x_obj, "x");
  check_ndim(x, "x", 2);
  py::array_t<float> out = check_out(out_obj, "out", {x.shape(1)});
  if (overlaps(out, x)) throw py::value_error("out: must not share memory with x");
  const float* xp = x.data();
  float* op = out.mutable_data();
  const int64_t rows = x.shape(0), cols = x.shape(1);
  py::gil_scoped_release nogil;
  colsum_accumulate(xp, rows, cols, op);
}

}  // namespace

void bind_linear(py::module_& m) {
  m.def("linear_forward", &linear_forward_py, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("act") = py::none(), py::arg("act_param") = 0.0f, py::arg("layer") = "Linear",
        py::arg("bf16") = false,
        "y = act(x @ weight.T + bias): one GEMM, bias and activation in its epilogue; bf16: in "
        "mixed precision (inference).");
  m.def("linear_backward", &linear_backward_py, py::arg("grad_out"), py::arg("x"),
        py::arg("weight"), py::arg("weight_grad"), py::arg("bias_grad"),
        py::arg("need_input_grad") = true, py::arg("layer") = "Linear",
        "Returns grad_out @ weight; accumulates grad_out.T @ x into weight_grad and the column "
        "sums of grad_out into bias_grad (either may be None to skip it).");
  m.def("colsum_accumulate", &colsum_accumulate_py, py::arg("x"), py::arg("out"),
        "out += x.sum(axis=0) for a 2-D x, in place.");
}

}  // namespace fastnn
