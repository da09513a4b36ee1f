// Helpers shared by the layer bindings (bind_linear.cpp, bind_elementwise.cpp, bind_loss.cpp):
// messages are prefixed with the layer's repr ("Linear(784, 128): input: expected ...").
#pragma once
#include <string>
#include <vector>

#include "common.h"

namespace fastnn {

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::vector<py::ssize_t> ssize_shape(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string arg_name(const std::string& layer, const char* arg) {
  return layer.empty() ? std::string(arg) : layer + ": " + arg;
}

// A float32 C-contiguous view of any real floating array (copied only when needed).
inline py::array_t<float> contiguous_f32(const py::handle& obj, const std::string& name) {
  py::array_t<float> a = as_f32(obj, name.c_str());
  if (!(a.flags() & py::array::c_style))
    a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  return a;
}

// An array that must be float32 and C-contiguous as it is (a parameter: never a silent copy).
inline py::array_t<float> exact_f32(const py::handle& obj, const std::string& name,
                                    const std::vector<int64_t>& shape) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a numpy.ndarray of float32");
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!(arr.dtype().kind() == 'f' && arr.itemsize() == 4))
    throw py::type_error(name + ": expected dtype float32, got " + std::string(py::str(arr.dtype())));
  check_shape(arr, name.c_str(), shape);
  if (!(arr.flags() & py::array::c_style))
    throw py::value_error(name + ": expected a C-contiguous array");
  return py::reinterpret_borrow<py::array_t<float>>(arr);
}

inline void check_same_shape(const py::array& a, const std::string& name, const py::array& like) {
  check_shape(a, name.c_str(), shape_of(like));
}

}  // namespace fastnn
