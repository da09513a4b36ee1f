// AVX2 f32 transpose (packs a row-major batch into the inputs x samples panel of the sparse
// kernels): 8x8 register blocks, masked loads and stores on the edges.
#include "fastnn/kernel_table.h"
#include "transpose8.h"

namespace fastnn {
namespace avx2 {

void f32_transpose_8x8(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                       int64_t ldd) {
  for (int64_t i0 = 0; i0 < rows; i0 += 8)
    for (int64_t j0 = 0; j0 < cols; j0 += 8)
      transpose_block8(src + i0 * lds + j0, lds, rows - i0 < 8 ? rows - i0 : 8,
                       cols - j0 < 8 ? cols - j0 : 8, dst + j0 * ldd + i0, ldd);
}

}  // namespace avx2
}  // namespace fastnn
