// Scalar activation formulas: the single definition every ISA's tail and the reference share.
#pragma once
#include <cmath>

#include "fastnn/params.h"

namespace fastnn {

inline float act_scalar(float x, const Epilogue& ep) {
  switch (ep.act) {
    case Act::none: return x;
    case Act::relu: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN propagates
    case Act::leaky_relu: return x > 0.0f ? x : x * ep.param;
    case Act::elu: return x > 0.0f ? x : ep.param * std::expm1(x);
    case Act::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case Act::tanh: return std::tanh(x);
  }
  return x;
}

}  // namespace fastnn
