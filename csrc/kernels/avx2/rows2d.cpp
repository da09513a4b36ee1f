// Strided row copies with zero fill (padding conv inputs), avx2 instantiation of
// ../simd/rows2d_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/rows2d_body.h"

}  // namespace avx2
}  // namespace fastnn
