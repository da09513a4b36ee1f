// AVX-512 f32 transpose: 16x16 register blocks, masked edges (avx512 instantiation of
// ../simd/transpose_body.h).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/transpose_body.h"

}  // namespace avx512
}  // namespace fastnn
