// AVX2 f32 transpose: 8x8 register blocks, masked edges (avx2 instantiation of
// ../simd/transpose_body.h).
#include <immintrin.h>

#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/transpose_body.h"

}  // namespace avx2
}  // namespace fastnn
