// Strided row copies with zero fill (padding conv inputs): the plain reference, one element at
// a time (contract: kernel_table.h, f32_copy_rows_padded_fn).
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_copy_rows_padded(const float* src, int64_t sld, int64_t n_src, int64_t lead,
                          int64_t rows, float* dst, int64_t dld, int64_t n_dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < n_dst; ++t) {
      const int64_t s = t - lead;  // source column of destination column t
      dst[r * dld + t] = (s >= 0 && s < n_src) ? src[r * sld + s] : 0.0f;
    }
}

}  // namespace ref
}  // namespace fastnn
