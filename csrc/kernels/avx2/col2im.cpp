// Stride-1 col2im (gather form), avx2 instantiation of ../simd/col2im_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/col2im_body.h"

}  // namespace avx2
}  // namespace fastnn
