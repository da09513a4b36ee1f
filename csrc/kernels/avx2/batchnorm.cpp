// Row and column reductions and affine maps for batch norm and global pooling, avx2 instantiation of ../simd/rows_body.h.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/rows_body.h"

}  // namespace avx2
}  // namespace fastnn
