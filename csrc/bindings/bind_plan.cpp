// fastnn._C.InferencePlan: the compiled inference plan (fastnn/plan.h) for fastnn/nn/_plan.py.
// Each add method converts its arrays (kept alive by the plan object: the C++ plan borrows them),
// builds the op's geometry with the layer bindings' checks, and appends it (plan.cpp checks the
// slots and sizes). run() takes the inputs as (n, ...) arrays and returns (n, size) outputs.
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bind_enum.h"
#include "bind_layers_common.h"
#include "fastnn/plan.h"

namespace fastnn {

namespace {

using Act3 = py::object;  // None, or (Unary code, p1, p2)

// An element of a tuple argument as T, or a TypeError naming it (pybind's cast_error would be a
// RuntimeError that names nothing).
template <class T>
T item(const py::tuple& t, size_t i, const std::string& name) {
  try {
    return t[i].cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(name + ": expected " + py::type_id<T>() + ", got " +
                         std::string(py::str(py::type::of(t[i]).attr("__name__"))));
  }
}

py::tuple as_tuple(const py::object& obj, size_t n, const char* name, const char* form) {
  if (!py::isinstance<py::tuple>(obj) || py::len(obj) != n)
    throw py::type_error(std::string(name) + ": expected None or " + form + ", got " +
                         std::string(py::str(py::repr(obj))).substr(0, 80));
  return obj.cast<py::tuple>();
}

struct PyPlan {
  std::unique_ptr<InferencePlan> plan;
  std::vector<int64_t> sizes;
  std::vector<int> inputs, outputs;
  std::vector<py::array_t<float>> keep;  // the borrowed weights

  const float* hold(const py::handle& obj, const char* name, int64_t n) {
    if (obj.is_none()) return nullptr;
    py::array_t<float> a = c_f32(obj, name);
    if (n >= 0 && a.size() != n)
      throw py::value_error(std::string(name) + ": expected " + std::to_string(n) +
                            " elements, got shape " + shape_str(a));
    keep.push_back(a);
    return a.data();
  }

  static void set_act(PlanOp& op, const Act3& act) {
    if (act.is_none()) return;
    const py::tuple t = as_tuple(act, 3, "act", "(code, p1, p2)");
    op.act_on = true;
    op.act = item<Unary>(t, 0, "act code");
    op.act_param = UnaryParam(item<float>(t, 1, "act p1"), item<float>(t, 2, "act p2"));
  }

  // bn: None, or (weight or None, bias or None, running_mean, running_var, eps) of c channels.
  void set_bn(PlanOp& op, const py::object& bn, int64_t c) {
    if (bn.is_none()) return;
    const py::tuple t = as_tuple(bn, 5, "bn", "(weight, bias, running_mean, running_var, eps)");
    op.bn_on = true;
    op.bn_w = hold(t[0], "bn weight", c);
    op.bn_b = hold(t[1], "bn bias", c);
    op.bn_mean = hold(t[2], "running_mean", c);
    op.bn_var = hold(t[3], "running_var", c);
    op.bn_eps = item<float>(t, 4, "bn eps");
  }

  void push(PlanOp& op, std::vector<int> in, int out, const Act3& act) {
    op.in = std::move(in);
    op.out = out;
    set_act(op, act);
    plan->add(op);
  }
};

void bind_plan_class(py::module_& m) {
  py::class_<PyPlan>(m, "InferencePlan", py::dynamic_attr(),
                     "A model's eval forward compiled into one call (fastnn/nn/_plan.py builds it). "
                     "slot_sizes: elements per sample of each value slot; inputs / outputs: the "
                     "slots run() takes and returns.")
      .def(py::init([](std::vector<int64_t> sizes, std::vector<int> inputs, std::vector<int> outputs) {
             auto p = std::make_unique<PyPlan>();
             p->plan = std::make_unique<InferencePlan>(sizes, inputs, outputs);
             p->sizes = std::move(sizes);
             p->inputs = std::move(inputs);
             p->outputs = std::move(outputs);
             return p;
           }),
           py::arg("slot_sizes"), py::arg("inputs"), py::arg("outputs"))
      .def("conv2d",
           [](PyPlan& p, int in, int out, const py::handle& w_obj, const py::handle& b_obj,
              std::array<int64_t, 3> chw, Pair stride, Pair padding, Pair dilation, int64_t groups,
              const std::string& algorithm, const py::object& bn, const Act3& act) {
             py::array_t<float> w = c_f32(w_obj, "weight");
             check_ndim(w, "weight", 4);
             check_nonempty_weight(w, "(out_channels, in_channels / groups, kh, kw)");
             PlanOp op;
             op.kind = PlanKind::conv2d;
             op.algo = conv_algo_from_name(algorithm);
             op.conv = conv_geom(1, chw[0], chw[1], chw[2], w.shape(0), w.shape(2), w.shape(3),
                                 stride, padding, dilation, groups);
             check_shape(w, "weight", {-1, op.conv.cg(), -1, -1});
             op.w = p.hold(w, "weight", -1);
             op.b = p.hold(b_obj, "bias", op.conv.k);
             p.set_bn(op, bn, op.conv.k);
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("weight"), py::arg("bias"), py::arg("chw"),
           py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
           py::arg("algorithm") = "auto", py::arg("bn") = py::none(), py::arg("act") = py::none())
      .def("linear",
           [](PyPlan& p, int in, int out, const py::handle& w_obj, const py::handle& b_obj,
              const py::object& bn, const Act3& act, bool bf16) {
             py::array_t<float> w = c_f32(w_obj, "weight");
             check_ndim(w, "weight", 2);
             check_nonempty_weight(w, "(out_features, in_features)");
             PlanOp op;
             op.kind = PlanKind::linear;
             op.bf16 = bf16;
             op.out_features = w.shape(0);
             op.in_features = w.shape(1);
             op.w = p.hold(w, "weight", -1);
             op.b = p.hold(b_obj, "bias", op.out_features);
             p.set_bn(op, bn, op.out_features);
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("weight"), py::arg("bias"),
           py::arg("bn") = py::none(), py::arg("act") = py::none(), py::arg("bf16") = false)
      .def("pool2d",
           [](PyPlan& p, int in, int out, bool is_max, std::array<int64_t, 3> chw, Pair kernel,
              Pair stride, Pair padding, Pair dilation, bool ceil_mode, bool count_include_pad,
              const Act3& act) {
             PlanOp op;
             op.kind = is_max ? PlanKind::maxpool2d : PlanKind::avgpool2d;
             op.channels = chw[0];
             op.pool = pool_geom(chw[1], chw[2], kernel, stride, padding, dilation, ceil_mode,
                                 count_include_pad);
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("is_max"), py::arg("chw"), py::arg("kernel"),
           py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
           py::arg("count_include_pad"), py::arg("act") = py::none())
      .def("global_avgpool",
           [](PyPlan& p, int in, int out, int64_t channels, int64_t inner, const Act3& act) {
             PlanOp op;
             op.kind = PlanKind::global_avgpool;
             op.channels = channels;
             op.inner = inner;
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("channels"), py::arg("inner"),
           py::arg("act") = py::none())
      .def("unary",
           [](PyPlan& p, int in, int out, const Act3& act) {
             if (act.is_none()) throw py::value_error("act: expected (code, p1, p2), got None");
             PlanOp op;
             op.kind = PlanKind::unary;
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("act"))
      .def("batchnorm",
           [](PyPlan& p, int in, int out, int64_t channels, int64_t inner, const py::object& bn,
              const Act3& act) {
             PlanOp op;
             op.kind = PlanKind::batchnorm;
             op.channels = channels;
             op.inner = inner;
             if (bn.is_none()) throw py::value_error("bn: expected (weight, bias, mean, var, eps)");
             p.set_bn(op, bn, channels);
             op.bn_on = false;  // the op itself, not a fused one
             p.push(op, {in}, out, act);
           },
           py::arg("inp"), py::arg("out"), py::arg("channels"), py::arg("inner"), py::arg("bn"),
           py::arg("act") = py::none())
      .def("add",
           [](PyPlan& p, int a, int b, int out, const Act3& act) {
             PlanOp op;
             op.kind = PlanKind::add;
             p.push(op, {a, b}, out, act);
           },
           py::arg("a"), py::arg("b"), py::arg("out"), py::arg("act") = py::none())
      .def("concat",
           [](PyPlan& p, std::vector<int> ins, int out, const Act3& act) {
             PlanOp op;
             op.kind = PlanKind::concat;
             p.push(op, std::move(ins), out, act);
           },
           py::arg("inputs"), py::arg("out"), py::arg("act") = py::none())
      .def("softmax",
           [](PyPlan& p, int in, int out, int64_t dim, int64_t inner, bool log) {
             PlanOp op;
             op.kind = log ? PlanKind::log_softmax : PlanKind::softmax;
             op.channels = dim;
             op.inner = inner;
             p.push(op, {in}, out, py::none());
           },
           py::arg("inp"), py::arg("out"), py::arg("dim"), py::arg("inner"), py::arg("log") = false)
      .def("chunk_for", [](PyPlan& p, int64_t n) { return p.plan->chunk_for(n); }, py::arg("n"),
           "Samples per chunk that run() uses for batch n with the current thread count.")
      .def_property_readonly("n_ops", [](PyPlan& p) { return p.plan->n_ops(); })
      .def("set_chunk_bytes", [](PyPlan& p, int64_t bytes) { p.plan->set_chunk_bytes(bytes); },
           py::arg("bytes"),
           "Chunk workspace per thread in bytes (0: twice the L2 cache, or FASTNN_PLAN_CHUNK_BYTES).")
      .def("set_profiling", [](PyPlan& p, bool on) { p.plan->set_profiling(on); }, py::arg("on"),
           "While on, run() sums each op's wall time per thread (turning it on clears the sums).")
      .def("op_seconds", [](PyPlan& p) { return p.plan->op_seconds(); },
           "Thread-seconds spent in each op since profiling was turned on.")
      .def(
          "run",
          // py::object, not py::handle: the items of a sequence that is not a list (an ndarray's
          // rows) are temporaries, which a handle would not keep alive.
          [](PyPlan& p, const std::vector<py::object>& xs_obj) {
            if (xs_obj.size() != p.inputs.size())
              throw py::value_error("inputs: expected " + std::to_string(p.inputs.size()) +
                                    " arrays, got " + std::to_string(xs_obj.size()));
            std::vector<py::array_t<float>> xs;
            std::vector<const float*> xp;
            int64_t n = -1;
            for (size_t i = 0; i < xs_obj.size(); ++i) {
              const std::string name = "input " + std::to_string(i);
              py::array_t<float> x = c_f32(xs_obj[i], name);
              if (x.ndim() < 1) throw py::value_error(name + ": expected a batch, got a scalar");
              const int64_t rows = x.shape(0);
              if (n < 0) n = rows;
              if (rows != n)
                throw py::value_error(name + ": expected " + std::to_string(n) + " samples (input 0's), got shape " + shape_str(x));
              const int64_t per = p.sizes[p.inputs[i]];
              int64_t want = 0;
              if (!mul_ok(rows, per, &want) || x.size() != want)
                throw py::value_error(name + ": expected " + std::to_string(per) +
                                      " elements per sample, got shape " + shape_str(x));
              xs.push_back(x);
              xp.push_back(x.data());
            }
            std::vector<py::array_t<float>> ys;
            std::vector<float*> yp;
            for (int s : p.outputs) {
              ys.push_back(new_array<float>({n, p.sizes[s]}, "output"));
              yp.push_back(ys.back().mutable_data());
            }
            {
              py::gil_scoped_release nogil;
              p.plan->run(xp, n, yp);
            }
            return ys;
          },
          py::arg("inputs"), "Run on (n, ...) float32 inputs; returns the (n, size) outputs.");
}

}  // namespace

void bind_plan(py::module_& m) { bind_plan_class(m); }

}  // namespace fastnn
