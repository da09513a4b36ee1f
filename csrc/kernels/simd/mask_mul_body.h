// The pruning-mask application x *= mask of every SIMD ISA (contract: kernel_table.h,
// f32_mask_mul_fn): included inside namespace fastnn::<isa> after that ISA's `struct Vec`
// (vec_*.h). One body for the main loop and the tail (masked load/store on the last, partial
// vector). Scalar reference: ref/mask_mul.cpp.
#pragma once

inline void mask_mul(float* x, const float* mask, int64_t n) {
  for (int64_t i = 0; i < n; i += Vec::kWidth) {
    const Vec::M lanes = Vec::first(n - i);
    Vec::store(lanes, x + i, Vec::mul(Vec::load(lanes, x + i), Vec::load(lanes, mask + i)));
  }
}
