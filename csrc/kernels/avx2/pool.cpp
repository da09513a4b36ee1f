// Max/average pooling over one plane, avx2 instantiation of ../simd/pool_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/pool_body.h"

}  // namespace avx2
}  // namespace fastnn
