// [optim] fastnn._C.OptimTable (the fused optimizers' descriptor table), the group check and
// gradient clipping: check every array, release the GIL, call ops.h.
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

// Hyper-parameters of one group as a tuple of floats, in this order (fastnn/optim/optimizer.py
// builds it): lr, weight_decay, l1, max_norm (0 = off), momentum, dampening, alpha, beta1, beta2,
// eps, lr_decay, nesterov, centered, amsgrad, decoupled.
constexpr size_t kHyper = 15;
using Hyper = std::array<double, kHyper>;

OptimGroup to_group(const Hyper& h) {
  OptimGroup g;
  g.lr = h[0];
  g.weight_decay = h[1];
  g.l1 = h[2];
  g.max_norm = h[3];
  g.momentum = h[4];
  g.dampening = h[5];
  g.alpha = h[6];
  g.beta1 = h[7];
  g.beta2 = h[8];
  g.eps = h[9];
  g.lr_decay = h[10];
  g.nesterov = h[11] != 0.0;
  g.centered = h[12] != 0.0;
  g.amsgrad = h[13] != 0.0;
  g.decoupled = h[14] != 0.0;
  return g;
}

OptimKind parse_kind(const std::string& s) {
  if (s == "sgd") return OptimKind::sgd;
  if (s == "adagrad") return OptimKind::adagrad;
  if (s == "rmsprop") return OptimKind::rmsprop;
  if (s == "adam") return OptimKind::adam;
  throw py::value_error("kind: expected 'sgd', 'adagrad', 'rmsprop' or 'adam', got '" + s + "'");
}

// A float32 C-contiguous writeable array named `name` (shape taken from `like` if given).
py::array_t<float> writable_f32(const py::handle& obj, const std::string& name,
                                const std::vector<int64_t>* like = nullptr) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a numpy.ndarray of float32, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  return check_out(a, name, like ? *like : shape_of(a));
}

// Named byte extents; any two that overlap are an error (an update would read what it wrote).
struct Extent {
  intptr_t lo, hi;
  std::string name;
};

void add_extent(std::vector<Extent>& v, const py::array& a, const std::string& name) {
  if (a.size() == 0) return;
  const intptr_t lo = reinterpret_cast<intptr_t>(a.data());
  v.push_back({lo, lo + static_cast<intptr_t>(a.nbytes()), name});
}

void check_disjoint(std::vector<Extent> v) {
  std::sort(v.begin(), v.end(), [](const Extent& a, const Extent& b) { return a.lo < b.lo; });
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i].lo < v[i - 1].hi)
      throw py::value_error(v[i - 1].name + " and " + v[i].name +
                            " share memory; every parameter, gradient and state buffer must be "
                            "a separate array");
}

class OptimTable {
 public:
  OptimTable(const std::string& kind, const py::sequence& params, const py::sequence& grads,
             const py::sequence& masks, const std::vector<int>& groups,
             const std::vector<bool>& active, const py::sequence& buffers,
             const py::handle& steps)
      : kind_(parse_kind(kind)) {
    const size_t n = py::len(params);
    if (py::len(grads) != n || py::len(masks) != n || groups.size() != n || active.size() != n)
      throw py::value_error("OptimTable: params, grads, masks, groups and active must have the "
                            "same length " + std::to_string(n));
    std::vector<Extent> extents;
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string idx = "[" + std::to_string(i) + "]";
      py::array_t<float> p = writable_f32(params[i], "params" + idx);
      const std::vector<int64_t> shape = shape_of(p);
      OptimParam d;
      d.param = p.mutable_data();
      d.numel = p.size();
      d.offset = offset;
      d.row_len = (p.ndim() >= 2 && shape[0] > 0) ? d.numel / shape[0] : 0;
      d.group = groups[i];
      d.active = active[i];
      keep_.push_back(p);
      add_extent(extents, p, "params" + idx);
      // py::object, not py::handle: a sequence such as an ndarray makes a new object per item,
      // which a handle would not keep alive.
      py::object g = grads[i];
      if (!g.is_none()) {
        py::array_t<float> ga = writable_f32(g, "grads" + idx, &shape);
        d.grad = ga.mutable_data();
        keep_.push_back(ga);
        add_extent(extents, ga, "grads" + idx);
      } else if (d.active) {
        throw py::value_error("grads" + idx + ": a trainable parameter needs a gradient array");
      }
      py::object m = masks[i];
      if (!m.is_none()) {
        // Kept by reference (the table is reused every step): used as it is, never copied.
        py::array_t<float> ma = exact_f32(m, "masks" + idx, shape);
        d.mask = ma.data();
        keep_.push_back(ma);
      }
      descs_.push_back(d);
      offset += d.numel;
    }
    state_.total = offset;
    if (py::len(buffers) != 3) throw py::value_error("buffers: expected 3 entries (array or None)");
    float** slots[3] = {&state_.s0, &state_.s1, &state_.s2};
    for (size_t w = 0; w < 3; ++w) {
      py::object b = buffers[w];
      if (b.is_none()) continue;
      const std::vector<int64_t> want{offset};
      py::array_t<float> ba = writable_f32(b, "buffers[" + std::to_string(w) + "]", &want);
      *slots[w] = ba.mutable_data();
      keep_.push_back(ba);
      add_extent(extents, ba, "state buffer " + std::to_string(w));
    }
    py::array_t<int64_t> sa =
        exact_int_inplace<int64_t>(steps, "steps", "int64", {static_cast<int64_t>(n)});
    state_.steps = sa.mutable_data();
    keep_.push_back(sa);
    check_disjoint(std::move(extents));
  }

  void step(const std::vector<Hyper>& hyper) {
    std::vector<OptimGroup> groups;
    groups.reserve(hyper.size());
    for (const Hyper& h : hyper) groups.push_back(to_group(h));
    py::gil_scoped_release nogil;
    optim_step(kind_, descs_, groups, state_);
  }

  void zero_grad() {
    py::gil_scoped_release nogil;
    optim_zero_grad(descs_);
  }

  int64_t total() const { return state_.total; }
  size_t size() const { return descs_.size(); }

 private:
  OptimKind kind_;
  std::vector<OptimParam> descs_;
  std::vector<py::object> keep_;  // every array a descriptor points into stays alive
  OptimState state_;
};

std::vector<GradSpan> grad_spans(const py::sequence& grads) {
  std::vector<GradSpan> out;
  std::vector<Extent> extents;
  const size_t n = py::len(grads);
  for (size_t i = 0; i < n; ++i) {
    const std::string name = "grads[" + std::to_string(i) + "]";
    py::array_t<float> g = writable_f32(grads[i], name);
    out.push_back({g.mutable_data(), static_cast<int64_t>(g.size())});
    add_extent(extents, g, name);
  }
  check_disjoint(std::move(extents));
  return out;
}

}  // namespace

void bind_optim(py::module_& m) {
  py::class_<OptimTable>(m, "OptimTable",
                         "Descriptor table of a fused optimizer (see fastnn/optim/optimizer.py).")
      .def(py::init<const std::string&, const py::sequence&, const py::sequence&,
                    const py::sequence&, const std::vector<int>&, const std::vector<bool>&,
                    const py::sequence&, const py::handle&>(),
           py::arg("kind"), py::arg("params"), py::arg("grads"), py::arg("masks"),
           py::arg("groups"), py::arg("active"), py::arg("buffers"), py::arg("steps"))
      .def("step", &OptimTable::step, py::arg("groups"),
           "One fused step; groups: one hyper-parameter tuple per param group.")
      .def("zero_grad", &OptimTable::zero_grad)
      .def_property_readonly("total", &OptimTable::total)
      .def("__len__", &OptimTable::size);
  m.def(
      "optim_check_group",
      [](const std::string& kind, const Hyper& h, int index) {
        check_optim_group(parse_kind(kind), to_group(h), index);
      },
      py::arg("kind"), py::arg("hyper"), py::arg("index"),
      "Raise ValueError naming the option if a group's hyper-parameters are out of range.");
  m.def(
      "clip_grad_norm",
      [](const py::sequence& grads, double max_norm, double norm_type, bool error_if_nonfinite) {
        std::vector<GradSpan> spans = grad_spans(grads);
        py::gil_scoped_release nogil;
        return clip_grad_norm(spans, max_norm, norm_type, error_if_nonfinite);
      },
      py::arg("grads"), py::arg("max_norm"), py::arg("norm_type") = 2.0,
      py::arg("error_if_nonfinite") = false);
  m.def(
      "grad_norm",
      [](const py::sequence& grads, double norm_type) {
        std::vector<GradSpan> spans = grad_spans(grads);
        py::gil_scoped_release nogil;
        return grad_norm(spans, norm_type);
      },
      py::arg("grads"), py::arg("norm_type") = 2.0);
  m.def(
      "clip_grad_value",
      [](const py::sequence& grads, double clip_value) {
        std::vector<GradSpan> spans = grad_spans(grads);
        py::gil_scoped_release nogil;
        clip_grad_value(spans, clip_value);
      },
      py::arg("grads"), py::arg("clip_value"));
}

}  // namespace fastnn
