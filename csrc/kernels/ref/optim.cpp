// [optim] Portable optimizer updates and reductions: the formulas of ../optim_body.h at width 1
// (the same body the SIMD paths run), plus the general p-norm reduction, which only exists here.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace ref {

struct Vec {
  using F = float;
  using M = int;
  static constexpr int64_t W = 1;
  static M full_mask() { return 1; }
  static M tail_mask(int64_t) { return 1; }  // never used at width 1
  template <bool Tail>
  static F load(const float* p, M) { return *p; }
  template <bool Tail>
  static void store(float* p, F v, M) { *p = v; }
  static F set1(float x) { return x; }
  static F zero() { return 0.0f; }
  static F add(F a, F b) { return a + b; }
  static F sub(F a, F b) { return a - b; }
  static F mul(F a, F b) { return a * b; }
  static F div(F a, F b) { return a / b; }
  static F sqrt(F a) { return std::sqrt(a); }
  static F fmadd(F a, F b, F c) { return a * b + c; }
  static F max(F a, F b) { return a > b ? a : b; }
  static F min(F a, F b) { return a < b ? a : b; }
  static F abs(F a) { return std::fabs(a); }
  static F sign(F x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }
  static double hsum(F v) { return static_cast<double>(v); }
  static float hmax(F v) { return v; }
  static F nan_flags(F acc, F x) { return std::isnan(x) ? 1.0f : acc; }
  static bool any_set(F acc) { return acc != 0.0f; }
};

#include "../optim_body.h"

double f32_sum_abs_pow(const float* x, int64_t n, double p) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::pow(std::fabs(static_cast<double>(x[i])), p);
  return total;
}

}  // namespace ref
}  // namespace fastnn
