// [optim] Portable optimizer updates and reductions: the formulas of ../optim_body.h over the
// scalar traits ../simd/vec_scalar.h (width 1: the same body the SIMD paths run), plus the general
// p-norm reduction, which only exists here.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../optim_body.h"

double f32_sum_abs_pow(const float* x, int64_t n, double p) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::pow(std::fabs(static_cast<double>(x[i])), p);
  return total;
}

}  // namespace ref
}  // namespace fastnn
