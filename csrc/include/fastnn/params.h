// Plain structs passed from drivers to leaf kernels. No behaviour here.
#pragma once
#include <cstdint>

namespace fastnn {

enum class Act : int { none = 0, relu = 1, leaky_relu = 2, elu = 3, sigmoid = 4, tanh = 5 };

// A fused output transform: y = act(x) with its parameter (negative_slope for leaky_relu,
// alpha for elu; unused otherwise).
struct Epilogue {
  Act act = Act::none;
  float param = 0.0f;
};

// A strided read-only matrix view: element (i, j) lives at data[i * rs + j * cs].
// Transposition is a swap of rs and cs; no copy.
struct MatView {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t rs = 0, cs = 0;
};

}  // namespace fastnn
