// AVX2 f32 transpose: 8x8 register blocks, masked edges (avx2 instantiation of
// ../simd/transpose_body.h).
#include "fastnn/kernel_table.h"
#include "transpose8.h"

namespace fastnn {
namespace avx2 {

#include "../simd/transpose_body.h"

void f32_transpose_8x8(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                       int64_t ldd) {
  transpose_blocked<8, transpose_block8>(rows, cols, src, lds, dst, ldd);
}

}  // namespace avx2
}  // namespace fastnn
