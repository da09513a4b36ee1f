// py::enum_ from an enum_list.h list: fastnn._C.<Type> with one member per list entry. The frame
// checks a value made from an int outside the list (fastnn._C.Unary(99)).
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "fastnn/enum_list.h"
#include "fastnn/params.h"

namespace fastnn {

template <class E>
pybind11::enum_<E> bind_enum(pybind11::module_& m, const char* doc) {
  pybind11::enum_<E> e(m, EnumTable<E>::type_name, doc);
  for (const EnumEntry& x : EnumTable<E>::entries) e.value(x.name, static_cast<E>(x.value));
  e.def_property_readonly("label", [](E v) {
    const char* l = enum_label(v);
    return std::string(l ? l : "");
  });
  return e;
}

// The GEMM epilogue of an optional activation (None: none): the activations it can fuse are
// relu .. tanh, whose Unary values are Act's; any other is a ValueError naming `name`.
inline Epilogue gemm_epilogue(const std::optional<Unary>& act, float param,
                              const std::string& name) {
  Epilogue ep;
  ep.param = param;
  if (!act) return ep;
  const int v = static_cast<int>(*act);
  if (v < static_cast<int>(Act::relu) || v > static_cast<int>(Act::tanh)) {
    const char* label = enum_label(*act);
    throw pybind11::value_error(
        name + ": expected None or an activation the GEMM epilogue fuses (relu, leaky_relu, elu, "
        "sigmoid, tanh), got " + (label ? std::string(label) : "the value " + std::to_string(v)));
  }
  ep.act = static_cast<Act>(v);
  return ep;
}

}  // namespace fastnn
