// Portable f32 transpose (the reference for the vector paths).
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                   int64_t ldd) {
  constexpr int64_t kBlock = 16;  // both sides of a block stay in cache
  for (int64_t j0 = 0; j0 < cols; j0 += kBlock)
    for (int64_t i0 = 0; i0 < rows; i0 += kBlock)
      for (int64_t j = j0; j < cols && j < j0 + kBlock; ++j)
        for (int64_t i = i0; i < rows && i < i0 + kBlock; ++i) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace ref
}  // namespace fastnn
