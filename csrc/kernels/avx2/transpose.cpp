// AVX2 f32 transpose (the sparse driver's packing of a batch into the inputs x samples panel,
// and of the outputs back to samples x outputs): 8x8 register blocks, masked edges.
#include "fastnn/kernel_table.h"
#include "transpose8.h"

namespace fastnn {
namespace avx2 {

void f32_transpose_8x8(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                       int64_t ldd) {
  // The side with the larger row stride gets long runs: its rows lie far apart, and visiting
  // each only 8 floats at a time sends a block's accesses to a few cache sets.
  auto block = [&](int64_t i0, int64_t j0) {
    transpose_block8(src + i0 * lds + j0, lds, rows - i0 < 8 ? rows - i0 : 8,
                     cols - j0 < 8 ? cols - j0 : 8, dst + j0 * ldd + i0, ldd);
  };
  if (ldd >= lds) {
    for (int64_t j0 = 0; j0 < cols; j0 += 8)
      for (int64_t i0 = 0; i0 < rows; i0 += 8) block(i0, j0);
  } else {
    for (int64_t i0 = 0; i0 < rows; i0 += 8)
      for (int64_t j0 = 0; j0 < cols; j0 += 8) block(i0, j0);
  }
}

}  // namespace avx2
}  // namespace fastnn
