// Helpers shared by the uint8 bindings (bind_quant.cpp, bind_quant_join.cpp).
#pragma once
#include <algorithm>
#include <climits>
#include <string>

#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

using U8Array = py::array_t<uint8_t, py::array::c_style>;

// A C-contiguous uint8 array; TypeError unless `obj` is a uint8 ndarray (no integer casts).
inline U8Array u8c(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy.ndarray of dtype uint8");
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.dtype().kind() == 'u' && a.itemsize() == 1))
    throw py::type_error(std::string(name) + ": expected dtype uint8, got " +
                         std::string(py::str(a.dtype())));
  return c_array<uint8_t>(a, name);
}

// Converts only: the frame checks the values (ValueError naming scale / zero_point). A zero point
// outside int's range saturates, so it stays out of [0, 255] and the frame rejects it.
inline QParamsU8 qp(double scale, int64_t zp) {
  QParamsU8 p;
  p.scale = static_cast<float>(scale);
  p.zero_point = static_cast<int>(std::min<int64_t>(std::max<int64_t>(zp, INT_MIN), INT_MAX));
  return p;
}

}  // namespace fastnn
