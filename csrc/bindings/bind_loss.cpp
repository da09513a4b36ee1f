// fastnn._C losses: cross-entropy (fused log-softmax) and the pointwise losses. Check, release the
// GIL, call ops.h.
#include "bind_enum.h"
#include "fastnn/ops.h"
#include "layers_util.h"

namespace fastnn {

namespace {

py::array_t<int64_t> class_targets(const py::handle& obj, const std::string& name, int64_t rows) {
  if (obj.is_none()) throw py::type_error(name + ": expected an array of class indices, got None");
  py::array arr = as_array(obj, name);
  const char kind = arr.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error(name + ": expected integer class indices, got dtype " +
                         std::string(py::str(arr.dtype())));
  check_shape(arr, name, {rows});
  return c_array<int64_t>(arr, name);
}

struct CeInputs {
  py::array_t<float> logits, weight;
  py::array_t<int64_t> target;
  CrossEntropyArgs args;
};

CeInputs ce_inputs(const py::handle& x_obj, const py::handle& t_obj, const py::handle& w_obj,
                   float label_smoothing, const std::string& reduction, const std::string& layer) {
  CeInputs c;
  c.logits = c_f32(x_obj, arg_name(layer, "input"));
  if (c.logits.ndim() != 2)
    throw py::value_error(arg_name(layer, "input") + ": expected shape (N, C), got " +
                          shape_str(c.logits));
  const int64_t rows = c.logits.shape(0), cols = c.logits.shape(1);
  c.target = class_targets(t_obj, arg_name(layer, "target"), rows);
  if (!w_obj.is_none()) {
    c.weight = c_f32(w_obj, arg_name(layer, "weight"));
    check_shape(c.weight, arg_name(layer, "weight").c_str(), {cols});
  }
  c.args.logits = c.logits.data();
  c.args.rows = rows;
  c.args.cols = cols;
  c.args.target = c.target.data();
  c.args.weight = w_obj.is_none() ? nullptr : c.weight.data();
  c.args.label_smoothing = label_smoothing;
  c.args.reduction = reduction_from_string(reduction);
  c.args.name = layer.c_str();
  return c;
}

py::tuple cross_entropy_forward_py(const py::handle& x, const py::handle& t, const py::handle& w,
                                   float label_smoothing, const std::string& reduction,
                                   const std::string& layer) {
  CeInputs c = ce_inputs(x, t, w, label_smoothing, reduction, layer);
  const py::ssize_t rows = c.args.rows;
  py::array_t<float> lse(rows), row_loss(rows);
  float* lp = lse.mutable_data();
  float* rp = row_loss.mutable_data();
  double total;
  {
    py::gil_scoped_release nogil;
    total = cross_entropy_forward(c.args, lp, rp);
  }
  if (c.args.reduction == Reduction::none) return py::make_tuple(row_loss, lse);
  return py::make_tuple(py::float_(static_cast<double>(static_cast<float>(total))), lse);
}

py::array_t<float> cross_entropy_backward_py(const py::handle& x, const py::handle& t,
                                             const py::handle& w, float label_smoothing,
                                             const std::string& reduction, const py::handle& lse_obj,
                                             const py::handle& g_obj, const std::string& layer) {
  CeInputs c = ce_inputs(x, t, w, label_smoothing, reduction, layer);
  py::array_t<float> lse = c_f32(lse_obj, arg_name(layer, "lse"));
  check_shape(lse, arg_name(layer, "lse").c_str(), {c.args.rows});
  py::array_t<float> g;
  const bool has_g = !g_obj.is_none();
  if (has_g) {
    g = c_f32(g_obj, arg_name(layer, "grad"));
    check_shape(g, arg_name(layer, "grad").c_str(), {c.args.rows});
  }
  py::array_t<float> dx(ssize_shape(c.logits));
  const float* lp = lse.data();
  const float* gp = has_g ? g.data() : nullptr;
  float* dp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    cross_entropy_backward(c.args, lp, gp, dp);
  }
  return dx;
}

struct PwInputs {
  py::array_t<float> x, t, w, pw;
  PointwiseLoss loss;
  const float* wp = nullptr;
  Reduction reduction = Reduction::mean;
};

PwInputs pw_inputs(PointwiseLossKind kind, const py::handle& x_obj, const py::handle& t_obj,
                   const py::handle& w_obj, const py::handle& pw_obj, float delta,
                   const std::string& reduction, const std::string& layer) {
  PwInputs p;
  p.x = c_f32(x_obj, arg_name(layer, "input"));
  p.t = c_f32(t_obj, arg_name(layer, "target"));
  check_same_shape(p.t, arg_name(layer, "target"), p.x);
  if (!w_obj.is_none()) {
    p.w = c_f32(w_obj, arg_name(layer, "weight"));
    check_same_shape(p.w, arg_name(layer, "weight"), p.x);
    p.wp = p.w.data();
  }
  p.loss.kind = kind;
  p.loss.delta = delta;
  if (!pw_obj.is_none()) {
    p.pw = c_f32(pw_obj, arg_name(layer, "pos_weight"));
    const int64_t last = p.x.ndim() ? p.x.shape(p.x.ndim() - 1) : 1;
    if (p.pw.ndim() != 1 || (p.pw.shape(0) != last && p.pw.shape(0) != 1))
      throw py::value_error(arg_name(layer, "pos_weight") + ": expected shape (" +
                            std::to_string(last) + ",) to match the input's last dimension, got " +
                            shape_str(p.pw));
    p.loss.pos_weight = p.pw.data();
    p.loss.pw_len = p.pw.shape(0);
  }
  p.reduction = reduction_from_string(reduction);
  return p;
}

py::object pointwise_loss_forward_py(PointwiseLossKind kind, const py::handle& x,
                                     const py::handle& t,
                                     const py::handle& w, const py::handle& pw, float delta,
                                     const std::string& reduction, const std::string& layer) {
  PwInputs p = pw_inputs(kind, x, t, w, pw, delta, reduction, layer);
  py::array_t<float> out;
  float* op = nullptr;
  if (p.reduction == Reduction::none) {
    out = py::array_t<float>(ssize_shape(p.x));
    op = out.mutable_data();
  }
  const int64_t n = p.x.size();
  const float *xp = p.x.data(), *tp = p.t.data();
  double total;
  {
    py::gil_scoped_release nogil;
    total = pointwise_loss_forward(p.loss, xp, tp, p.wp, n, op);
  }
  if (p.reduction == Reduction::none) return std::move(out);
  if (p.reduction == Reduction::mean) total /= static_cast<double>(n);
  return py::float_(static_cast<double>(static_cast<float>(total)));
}

py::array_t<float> pointwise_loss_backward_py(PointwiseLossKind kind, const py::handle& x,
                                              const py::handle& t,
                                              const py::handle& w, const py::handle& pw,
                                              float delta, const std::string& reduction,
                                              const py::handle& g_obj, const std::string& layer) {
  PwInputs p = pw_inputs(kind, x, t, w, pw, delta, reduction, layer);
  py::array_t<float> g;
  const bool has_g = !g_obj.is_none() && p.reduction == Reduction::none;
  if (has_g) {
    g = c_f32(g_obj, arg_name(layer, "grad"));
    check_same_shape(g, arg_name(layer, "grad"), p.x);
  }
  const int64_t n = p.x.size();
  const float scale =
      p.reduction == Reduction::mean && n > 0 ? static_cast<float>(1.0 / double(n)) : 1.0f;
  py::array_t<float> dx(ssize_shape(p.x));
  const float *xp = p.x.data(), *tp = p.t.data(), *gp = has_g ? g.data() : nullptr;
  float* dp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    pointwise_loss_backward(p.loss, xp, tp, p.wp, n, gp, scale, dp);
  }
  return dx;
}

}  // namespace

void bind_loss(py::module_& m) {
  bind_enum<PointwiseLossKind>(m, "Pointwise losses (kernel_table.h FASTNN_POINTWISE_LOSS_LIST).");
  m.def("cross_entropy_forward", &cross_entropy_forward_py, py::arg("input"), py::arg("target"),
        py::arg("weight"), py::arg("label_smoothing") = 0.0f, py::arg("reduction") = "mean",
        py::arg("layer") = "CrossEntropyLoss",
        "(loss, lse): loss a float (mean/sum) or per-row array (none); lse for the backward.");
  m.def("cross_entropy_backward", &cross_entropy_backward_py, py::arg("input"), py::arg("target"),
        py::arg("weight"), py::arg("label_smoothing"), py::arg("reduction"), py::arg("lse"),
        py::arg("grad") = py::none(), py::arg("layer") = "CrossEntropyLoss");
  m.def("pointwise_loss_forward", &pointwise_loss_forward_py, py::arg("kind"), py::arg("input"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(),
        py::arg("delta") = 1.0f, py::arg("reduction") = "mean", py::arg("layer") = "",
        "kind: a fastnn._C.PointwiseLossKind member.");
  m.def("pointwise_loss_backward", &pointwise_loss_backward_py, py::arg("kind"), py::arg("input"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(),
        py::arg("delta") = 1.0f, py::arg("reduction") = "mean", py::arg("grad") = py::none(),
        py::arg("layer") = "");
}

}  // namespace fastnn
