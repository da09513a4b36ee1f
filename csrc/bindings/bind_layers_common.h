// Small binding helpers shared by bind_conv.cpp and bind_pool_bn.cpp ([layers: conv, pool,
// batchnorm]), on top of common.h (whose c_f32 is the read-only input conversion).
#pragma once
#include <array>
#include <string>

#include "common.h"

namespace fastnn {

// Optional read-only vector of length n (None -> nullptr); `keep` holds the array alive.
inline const float* optional_vec(const py::handle& obj, const char* name, int64_t n,
                                 py::array_t<float>& keep) {
  if (obj.is_none()) return nullptr;
  keep = vec_f32(obj, name, n);
  return keep.data();
}

// A backward's input gradient of shape `input_shape` (N, C, H, W), written by fill(dx) with the
// GIL released.
template <class Fill>
py::array_t<float> input_grad(const std::array<int64_t, 4>& input_shape, const Fill& fill) {
  py::array_t<float> dx = new_array<float>(
      {input_shape[0], input_shape[1], input_shape[2], input_shape[3]}, "input gradient");
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    fill(dxp);
  }
  return dx;
}

}  // namespace fastnn
