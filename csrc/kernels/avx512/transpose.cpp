// AVX-512 f32 transpose (packs a row-major batch into the inputs x samples panel of the sparse
// kernels): 16x16 register blocks, masked loads and stores on the edges.
#include "fastnn/kernel_table.h"
#include "transpose16.h"

namespace fastnn {
namespace avx512 {

void f32_transpose_16x16(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                         int64_t ldd) {
  for (int64_t i0 = 0; i0 < rows; i0 += 16)
    for (int64_t j0 = 0; j0 < cols; j0 += 16)
      transpose_block16(src + i0 * lds + j0, lds, rows - i0 < 16 ? rows - i0 : 16,
                        cols - j0 < 16 ? cols - j0 : 16, dst + j0 * ldd + i0, ldd);
}

}  // namespace avx512
}  // namespace fastnn
