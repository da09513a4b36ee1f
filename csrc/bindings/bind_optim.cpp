// [optim] fastnn._C.OptimTable (the fused optimizers' descriptor table), the group check and
// gradient clipping: check every array, release the GIL, call ops.h.
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "bind_enum.h"
#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

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
  OptimTable(OptimKind kind, const py::sequence& params, const py::sequence& grads,
             const py::sequence& masks, const std::vector<int>& groups,
             const std::vector<bool>& active, const py::sequence& buffers,
             const py::handle& steps)
      : kind_(kind) {
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

  void step(const std::vector<OptimGroup>& groups) {
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

// An OptimHyper keyword's value as T (double or bool); TypeError naming the field otherwise.
template <class T>
T hyper_value(const py::handle& v, const char* name) {
  try {
    return v.cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string("OptimHyper: ") + name + ": expected a " +
                         (std::is_same<T, bool>::value ? "bool" : "float") + ", got " +
                         std::string(py::str(py::type::of(v).attr("__name__"))));
  }
}

}  // namespace

void bind_optim(py::module_& m) {
  bind_enum<OptimKind>(m, "Fused optimizers (ops.h FASTNN_OPTIM_KIND_LIST).");
  // OptimHyper(lr=..., momentum=..., ...): every ops.h OptimGroup field is a keyword (default 0 /
  // False) and an attribute; check_optim_group (the frame) checks the values.
  py::class_<OptimGroup> hyper(m, "OptimHyper",
                               "Hyper-parameters of one param group (ops.h OptimGroup).");
  hyper.def(py::init([](const py::kwargs& kw) {
    OptimGroup g;
    size_t used = 0;
#define FASTNN_HYPER_KW_(type, name) \
  if (kw.contains(#name)) g.name = hyper_value<type>(kw[#name], #name), ++used;
    FASTNN_OPTIM_GROUP_FIELDS(FASTNN_HYPER_KW_)
#undef FASTNN_HYPER_KW_
    if (used != kw.size()) {
      std::string unknown;
      for (const auto& item : kw) {
        const std::string k = py::str(item.first);
        bool known = false;
#define FASTNN_HYPER_NAME_(type, name) known = known || k == #name;
        FASTNN_OPTIM_GROUP_FIELDS(FASTNN_HYPER_NAME_)
#undef FASTNN_HYPER_NAME_
        if (!known) unknown += (unknown.empty() ? "" : ", ") + k;
      }
      throw py::type_error("OptimHyper: unknown keyword(s) " + unknown);
    }
    return g;
  }));
#define FASTNN_HYPER_FIELD_(type, name) hyper.def_readwrite(#name, &OptimGroup::name);
  FASTNN_OPTIM_GROUP_FIELDS(FASTNN_HYPER_FIELD_)
#undef FASTNN_HYPER_FIELD_
  py::class_<OptimTable>(m, "OptimTable",
                         "Descriptor table of a fused optimizer (see fastnn/optim/optimizer.py).")
      .def(py::init<OptimKind, const py::sequence&, const py::sequence&,
                    const py::sequence&, const std::vector<int>&, const std::vector<bool>&,
                    const py::sequence&, const py::handle&>(),
           py::arg("kind"), py::arg("params"), py::arg("grads"), py::arg("masks"),
           py::arg("groups"), py::arg("active"), py::arg("buffers"), py::arg("steps"))
      .def("step", &OptimTable::step, py::arg("groups"),
           "One fused step; groups: one OptimHyper per param group.")
      .def("zero_grad", &OptimTable::zero_grad)
      .def_property_readonly("total", &OptimTable::total)
      .def("__len__", &OptimTable::size);
  m.def(
      "optim_check_group",
      [](OptimKind kind, const OptimGroup& h, int index) { check_optim_group(kind, h, index); },
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
