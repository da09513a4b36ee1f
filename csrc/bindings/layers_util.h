// Helpers shared by the layer bindings (bind_linear.cpp, bind_elementwise.cpp, bind_loss.cpp):
// messages are prefixed with the layer's repr ("Linear(784, 128): input: expected ...").
// Conversions and array checks are common.h's (c_f32, exact_f32, check_out).
#pragma once
#include <string>
#include <vector>

#include "common.h"

namespace fastnn {

inline std::vector<py::ssize_t> ssize_shape(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string arg_name(const std::string& layer, const char* arg) {
  return layer.empty() ? std::string(arg) : layer + ": " + arg;
}

inline void check_same_shape(const py::array& a, const std::string& name, const py::array& like) {
  check_shape(a, name, shape_of(like));
}

}  // namespace fastnn
