// Transposing pack, portable reference. Contract: kernel_table.h (f32_transpose_rows_fn).
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_transpose_rows(const float* const* rows, int64_t nrows, int64_t len, int64_t ld,
                        int64_t width, const float* add, float* dst) {
  for (int64_t t = 0; t < len; ++t) {
    float* d = dst + t * ld;
    const float a = add ? add[t] : 0.0f;
    for (int64_t r = 0; r < width; ++r) d[r] = r < nrows ? (add ? rows[r][t] + a : rows[r][t]) : 0.0f;
  }
}

}  // namespace ref
}  // namespace fastnn
