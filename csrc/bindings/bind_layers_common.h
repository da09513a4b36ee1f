// Small binding helpers shared by bind_conv.cpp and bind_pool_bn.cpp ([layers: conv, pool,
// batchnorm]), on top of common.h.
#pragma once
#include <string>

#include "common.h"

namespace fastnn {

// A read-only input as C-contiguous float32 (copied only when the dtype or layout requires it).
inline py::array_t<float> c_f32(const py::handle& obj, const char* name) {
  py::array_t<float> a = as_f32(obj, name);
  if (!(a.flags() & py::array::c_style))
    a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  return a;
}

// Optional read-only vector of length n (None -> nullptr); `keep` holds the array alive.
inline const float* optional_vec(const py::handle& obj, const char* name, int64_t n,
                                 py::array_t<float>& keep) {
  if (obj.is_none()) return nullptr;
  keep = c_f32(obj, name);
  check_shape(keep, name, {n});
  return keep.data();
}

}  // namespace fastnn
