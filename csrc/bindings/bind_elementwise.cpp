// fastnn._C activations, softmax and dropout: check, release the GIL, call ops.h.
#include "bind_enum.h"
#include "fastnn/ops.h"
#include "layers_util.h"

namespace fastnn {

namespace {

// Diagnostics' accumulator for an activation's values `like`: a writeable, C-contiguous float64
// array of 3 + channels elements (channels: axis 1, or axis 0 of a 1-D array); None: no statistics.
struct StatsArg {
  py::array_t<double> arr;
  ActStats s;
  bool on = false;
};

// `like`: the array whose statistics are taken (named `like_name` if stats overlaps it).
StatsArg stats_arg(const py::handle& obj, const py::array& like, const char* like_name,
                   const std::string& layer) {
  StatsArg out;
  if (obj.is_none()) return out;
  const std::string name = arg_name(layer, "stats");
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a float64 numpy array or None");
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<double>()) || !(a.flags() & py::array::c_style) ||
      !a.writeable())
    throw py::type_error(name + ": expected a writeable, C-contiguous float64 array");
  check_aligned(a, name);
  check_no_alias(a, name, {{like, arg_name(layer, like_name)}});
  const int nd = static_cast<int>(like.ndim());
  int64_t channels = nd >= 2 ? like.shape(1) : (nd == 1 ? like.shape(0) : 1), inner = 1;
  for (int d = 2; d < nd; ++d) inner *= like.shape(d);
  if (a.size() != 3 + channels)
    throw py::value_error(name + ": expected " + std::to_string(3 + channels) +
                          " elements (3 + channels) for values of shape " + shape_str(like) +
                          ", got " + std::to_string(a.size()));
  out.arr = py::reinterpret_borrow<py::array_t<double>>(a);
  out.s.acc = out.arr.mutable_data();
  out.s.channels = std::max<int64_t>(channels, 1);
  out.s.inner = std::max<int64_t>(inner, 1);
  out.on = like.size() > 0;
  return out;
}

// a + b (ReLU optional) of two float32 arrays of one shape; out: None (a new array) or a
// writeable C-contiguous float32 array of that shape, which may be a or b itself (an in-place sum)
// but must not overlap them otherwise.
py::array_t<float> add_py(const py::handle& a_obj, const py::handle& b_obj,
                          const py::handle& out_obj, bool relu, const std::string& layer) {
  py::array_t<float> a = c_f32(a_obj, arg_name(layer, "a"));
  py::array_t<float> b = c_f32(b_obj, arg_name(layer, "b"));
  check_same_shape(b, arg_name(layer, "b"), a);
  py::array_t<float> y;
  if (out_obj.is_none()) {
    y = py::array_t<float>(ssize_shape(a));
  } else {
    std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
    y = check_out(out_obj, arg_name(layer, "out"), shape);
    for (const auto& in : {std::make_pair(a, "a"), std::make_pair(b, "b")})
      if (y.data() != in.first.data() && overlaps(y, in.first))
        throw py::value_error(arg_name(layer, "out") + ": must be " + in.second +
                              " itself or not share memory with it");
  }
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.mutable_data();
  const int64_t n = a.size();
  {
    py::gil_scoped_release nogil;
    add_arrays(ap, bp, yp, n, relu);
  }
  return y;
}

py::array_t<float> unary_forward_py(const py::handle& x_obj, Unary op, float param,
                                    const std::string& layer, const py::handle& stats_obj,
                                    float param2) {
  py::array_t<float> x = c_f32(x_obj, arg_name(layer, "input"));
  py::array_t<float> y(ssize_shape(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  StatsArg st = stats_arg(stats_obj, x, "input", layer);
  {
    py::gil_scoped_release nogil;
    unary_forward(op, UnaryParam(param, param2), xp, yp, n, st.on ? &st.s : nullptr);
  }
  return y;
}

// x may be None when unary_backward_needs_input(op, param) is false.
py::array_t<float> unary_backward_py(const py::handle& x_obj, const py::handle& y_obj,
                                     const py::handle& g_obj, Unary op, float param,
                                     const std::string& layer, const py::handle& stats_obj,
                                     float param2) {
  const UnaryParam prm(param, param2);
  py::array_t<float> y = c_f32(y_obj, arg_name(layer, "output"));
  py::array_t<float> g = c_f32(g_obj, arg_name(layer, "grad_out"));
  check_same_shape(g, arg_name(layer, "grad_out"), y);
  py::array_t<float> x;
  const bool has_x = !x_obj.is_none();
  if (has_x) {
    x = c_f32(x_obj, arg_name(layer, "input"));
    check_same_shape(x, arg_name(layer, "input"), y);
  } else if (unary_backward_needs_input(op, prm)) {
    throw py::value_error(arg_name(layer, "input") + ": this activation's backward needs the input");
  }
  py::array_t<float> dx(ssize_shape(y));
  const float* xp = has_x ? x.data() : nullptr;
  const float *yp = y.data(), *gp = g.data();
  float* dp = dx.mutable_data();
  const int64_t n = y.size();
  StatsArg st = stats_arg(stats_obj, y, "output", layer);
  {
    py::gil_scoped_release nogil;
    unary_backward(op, prm, xp, yp, gp, dp, n, st.on ? &st.s : nullptr);
  }
  return dx;
}

struct Axis {
  int64_t outer = 1, dim = 1, inner = 1;
};

Axis split_axis(const py::array& a, int dim, const std::string& layer) {
  const int nd = static_cast<int>(a.ndim());
  if (nd == 0 || dim < -nd || dim >= nd)
    throw py::value_error(arg_name(layer, "input") + ": dim " + std::to_string(dim) +
                          " is out of range for an array of shape " + shape_str(a));
  if (dim < 0) dim += nd;
  Axis ax;
  for (int d = 0; d < nd; ++d) {
    if (d < dim) ax.outer *= a.shape(d);
    else if (d == dim) ax.dim = a.shape(d);
    else ax.inner *= a.shape(d);
  }
  return ax;
}

py::array_t<float> softmax_forward_py(const py::handle& x_obj, int dim, const std::string& layer,
                                      bool log) {
  py::array_t<float> x = c_f32(x_obj, arg_name(layer, "input"));
  const Axis ax = split_axis(x, dim, layer);
  py::array_t<float> y(ssize_shape(x));
  if (x.size() == 0) return y;
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (log) log_softmax_forward(xp, yp, ax.outer, ax.dim, ax.inner);
    else softmax_forward(xp, yp, ax.outer, ax.dim, ax.inner);
  }
  return y;
}

py::array_t<float> softmax_backward_py(const py::handle& y_obj, const py::handle& g_obj, int dim,
                                       const std::string& layer, bool log) {
  py::array_t<float> y = c_f32(y_obj, arg_name(layer, "output"));
  py::array_t<float> g = c_f32(g_obj, arg_name(layer, "grad_out"));
  check_same_shape(g, arg_name(layer, "grad_out"), y);
  const Axis ax = split_axis(y, dim, layer);
  py::array_t<float> dx(ssize_shape(y));
  if (y.size() == 0) return dx;
  const float *yp = y.data(), *gp = g.data();
  float* dp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (log) log_softmax_backward(yp, gp, dp, ax.outer, ax.dim, ax.inner);
    else softmax_backward(yp, gp, dp, ax.outer, ax.dim, ax.inner);
  }
  return dx;
}

// PReLU: weight of 1 value, or of C values for the channels (axis 1) of an input of >= 2 dims.
struct PreluGeom {
  int64_t outer = 1, channels = 1, inner = 1;
};

PreluGeom prelu_geom(const py::array& x, const py::array& w, const std::string& layer) {
  if (w.ndim() != 1)
    throw py::value_error(arg_name(layer, "weight") + ": expected a 1-D array, got shape " +
                          shape_str(w));
  const int64_t nw = w.shape(0);
  PreluGeom g;
  if (nw == 1) {
    g.inner = x.size();
    return g;
  }
  if (x.ndim() < 2 || x.shape(1) != nw)
    throw py::value_error(arg_name(layer, "input") + ": expected " + std::to_string(nw) +
                          " channels on axis 1 (the weight has " + std::to_string(nw) +
                          " values), got shape " + shape_str(x));
  g.outer = x.shape(0);
  g.channels = nw;
  g.inner = 1;
  for (int d = 2; d < static_cast<int>(x.ndim()); ++d) g.inner *= x.shape(d);
  return g;
}

py::array_t<float> prelu_forward_py(const py::handle& x_obj, const py::handle& w_obj,
                                    const std::string& layer) {
  py::array_t<float> x = c_f32(x_obj, arg_name(layer, "input"));
  py::array_t<float> w = c_f32(w_obj, arg_name(layer, "weight"));
  const PreluGeom g = prelu_geom(x, w, layer);
  py::array_t<float> y(ssize_shape(x));
  const float *xp = x.data(), *wp = w.data();
  float* yp = y.mutable_data();
  const int64_t nw = w.shape(0);
  {
    py::gil_scoped_release nogil;
    prelu_forward(xp, wp, nw, yp, g.outer, g.channels, g.inner);
  }
  return y;
}

// Returns the input gradient; weight_grad (None: skipped) is accumulated in place.
py::array_t<float> prelu_backward_py(const py::handle& x_obj, const py::handle& w_obj,
                                     const py::handle& g_obj, const py::handle& wg_obj,
                                     const std::string& layer) {
  py::array_t<float> x = c_f32(x_obj, arg_name(layer, "input"));
  py::array_t<float> w = c_f32(w_obj, arg_name(layer, "weight"));
  py::array_t<float> g = c_f32(g_obj, arg_name(layer, "grad_out"));
  check_same_shape(g, arg_name(layer, "grad_out"), x);
  const PreluGeom geo = prelu_geom(x, w, layer);
  const int64_t nw = w.shape(0);
  py::array_t<float> wg;
  float* wgp = nullptr;
  if (!wg_obj.is_none()) {
    wg = check_out(wg_obj, arg_name(layer, "weight.grad"), {nw});
    check_no_alias(wg, arg_name(layer, "weight.grad"),
                   {{x, arg_name(layer, "input")}, {w, arg_name(layer, "weight")},
                    {g, arg_name(layer, "grad_out")}});
    wgp = wg.mutable_data();
  }
  py::array_t<float> dx(ssize_shape(x));
  const float *xp = x.data(), *wp = w.data(), *gp = g.data();
  float* dp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    prelu_backward(xp, wp, nw, gp, dp, wgp, geo.outer, geo.channels, geo.inner);
  }
  return dx;
}

py::array_t<float> dropout_py(const py::handle& x_obj, double p, uint64_t seed, bool backward,
                              const std::string& layer) {
  py::array_t<float> x = c_f32(x_obj, arg_name(layer, backward ? "grad_out" : "input"));
  if (!(p >= 0.0 && p < 1.0))
    throw py::value_error(arg_name(layer, "p") + ": expected 0 <= p < 1, got " + std::to_string(p));
  py::array_t<float> y(ssize_shape(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    if (backward) dropout_backward(xp, yp, n, p, seed);
    else dropout_forward(xp, yp, n, p, seed);
  }
  return y;
}

// The scaled keep mask itself (tests and reproducibility checks).
py::array_t<float> dropout_mask_py(int64_t n, double p, uint64_t seed) {
  if (n < 0) throw py::value_error("n: expected >= 0, got " + std::to_string(n));
  if (!(p >= 0.0 && p < 1.0))
    throw py::value_error("p: expected 0 <= p < 1, got " + std::to_string(p));
  py::array_t<float> y = new_array<float>({n}, "n");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    dropout_forward(nullptr, yp, n, p, seed);
  }
  return y;
}

py::array_t<float> vmath_py(const py::handle& x_obj, const std::string& fn) {
  const VMath f = vmath_from_name(fn);
  py::array_t<float> x = c_f32(x_obj, "x");
  py::array_t<float> y(ssize_shape(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    vmath(f, xp, yp, n);
  }
  return y;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  bind_enum<Unary>(m, "Activation codes (params.h FASTNN_UNARY_LIST); .label names the layer.");
  m.def("vmath", &vmath_py, py::arg("x"), py::arg("function"),
        "One function of the shared vector math on the active ISA path (for accuracy tests): "
        "'exp', 'expm1_nonpos' (expm1 of min(x, 0)), 'tanh', 'sigmoid', 'phi_tail' (Phi(-|x|), "
        "one exp); 'phi_tail_q', 'phi_tail_g': the two outputs Phi(-|x|) and exp(-x^2/2) of the "
        "two-exp variant GELU backward uses.");
  m.def("add", &add_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
        py::arg("relu") = false, py::arg("layer") = "",
        "a + b (then max(., 0) when relu), float32 arrays of one shape, threaded; out: None or a "
        "writeable C-contiguous float32 array of that shape (may be a or b: an in-place sum).");
  m.def("unary_forward", &unary_forward_py, py::arg("x"), py::arg("code"), py::arg("param") = 0.0f,
        py::arg("layer") = "", py::arg("stats") = py::none(), py::arg("param2") = 0.0f,
        "Activation code (a fastnn._C.Unary member). param, param2: "
        "the constants (hardtanh min_val, max_val; hardsigmoid alpha, beta; softplus beta, "
        "threshold; one param otherwise). stats: None, or a float64 array of 3 + channels that "
        "the pass adds its output's statistics to: [elements, sum, sum of squares, positives per "
        "channel...].");
  m.def("unary_backward", &unary_backward_py, py::arg("x"), py::arg("y"), py::arg("grad_out"),
        py::arg("code"), py::arg("param") = 0.0f, py::arg("layer") = "",
        py::arg("stats") = py::none(), py::arg("param2") = 0.0f,
        "grad_out * f'(x) from the forward's output y (and input x where needed); stats as in "
        "unary_forward, of the returned gradient.");
  m.def(
      "act_stats",
      [](const py::handle& y_obj, const py::handle& stats_obj, const std::string& layer) {
        py::array_t<float> y = c_f32(y_obj, arg_name(layer, "values"));
        StatsArg st = stats_arg(stats_obj, y, "values", layer);
        if (!st.on) return;
        const float* yp = y.data();
        const int64_t n = y.size();
        py::gil_scoped_release nogil;
        act_stats_accumulate(yp, n, st.s);
      },
      py::arg("values"), py::arg("stats"), py::arg("layer") = "",
      "Add the statistics of existing activation values to stats (see unary_forward).");
  m.def("unary_backward_needs_input",
        [](Unary code, float param) { return unary_backward_needs_input(code, param); },
        py::arg("code"), py::arg("param") = 0.0f);
  m.def("softmax_forward",
        [](const py::handle& x, int dim, const std::string& layer) {
          return softmax_forward_py(x, dim, layer, false);
        },
        py::arg("x"), py::arg("dim"), py::arg("layer") = "");
  m.def("softmax_backward",
        [](const py::handle& y, const py::handle& g, int dim, const std::string& layer) {
          return softmax_backward_py(y, g, dim, layer, false);
        },
        py::arg("y"), py::arg("grad_out"), py::arg("dim"), py::arg("layer") = "");
  m.def("log_softmax_forward",
        [](const py::handle& x, int dim, const std::string& layer) {
          return softmax_forward_py(x, dim, layer, true);
        },
        py::arg("x"), py::arg("dim"), py::arg("layer") = "",
        "x - max - log(sum(exp(x - max))) along dim.");
  m.def("log_softmax_backward",
        [](const py::handle& y, const py::handle& g, int dim, const std::string& layer) {
          return softmax_backward_py(y, g, dim, layer, true);
        },
        py::arg("y"), py::arg("grad_out"), py::arg("dim"), py::arg("layer") = "",
        "grad_out - exp(y) * sum(grad_out) along dim, from the forward's output y.");
  m.def("prelu_forward", &prelu_forward_py, py::arg("x"), py::arg("weight"), py::arg("layer") = "",
        "x > 0 ? x : weight[c] * x, c the channel (axis 1); a 1-value weight applies everywhere.");
  m.def("prelu_backward", &prelu_backward_py, py::arg("x"), py::arg("weight"), py::arg("grad_out"),
        py::arg("weight_grad") = py::none(), py::arg("layer") = "",
        "Returns the input gradient; adds the weight's gradient into weight_grad (float32, in "
        "place) unless it is None.");
  m.def("dropout_forward",
        [](const py::handle& x, double p, uint64_t seed, const std::string& layer) {
          return dropout_py(x, p, seed, false, layer);
        },
        py::arg("x"), py::arg("p"), py::arg("seed"), py::arg("layer") = "");
  m.def("dropout_backward",
        [](const py::handle& g, double p, uint64_t seed, const std::string& layer) {
          return dropout_py(g, p, seed, true, layer);
        },
        py::arg("grad_out"), py::arg("p"), py::arg("seed"), py::arg("layer") = "");
  m.def("dropout_mask", &dropout_mask_py, py::arg("n"), py::arg("p"), py::arg("seed"));
}

}  // namespace fastnn
