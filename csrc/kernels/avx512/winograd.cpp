// Winograd F(2x2, 3x3) / F(4x4, 3x3) tile transforms, avx512 instantiation of ../simd/winograd_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/winograd_body.h"

}  // namespace avx512
}  // namespace fastnn
