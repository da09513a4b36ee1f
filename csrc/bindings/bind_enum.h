// py::enum_ from an enum_list.h list: fastnn._C.<Type> with one member per list entry. The frame
// checks a value made from an int outside the list (fastnn._C.Unary(99)).
#pragma once
#include <pybind11/pybind11.h>

#include "fastnn/enum_list.h"

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

}  // namespace fastnn
