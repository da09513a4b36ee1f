// Small binding helpers shared by bind_conv.cpp and bind_pool_bn.cpp ([layers: conv, pool,
// batchnorm]), on top of common.h (whose c_f32 is the read-only input conversion).
#pragma once
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

}  // namespace fastnn
