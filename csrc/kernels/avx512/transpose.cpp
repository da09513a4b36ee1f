// AVX-512 f32 transpose: 16x16 register blocks, masked edges (avx512 instantiation of
// ../simd/transpose_body.h).
#include "fastnn/kernel_table.h"
#include "transpose16.h"

namespace fastnn {
namespace avx512 {

#include "../simd/transpose_body.h"

void f32_transpose_16x16(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                         int64_t ldd) {
  transpose_blocked<16, transpose_block16>(rows, cols, src, lds, dst, ldd);
}

}  // namespace avx512
}  // namespace fastnn
