// Strided row copies with zero fill (padding conv inputs), avx512 instantiation of
// ../simd/rows2d_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/rows2d_body.h"

}  // namespace avx512
}  // namespace fastnn
