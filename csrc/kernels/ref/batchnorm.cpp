// Row reductions and affine maps for batch norm and global pooling, ref instantiation of ../simd/rows_body.h.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/rows_body.h"

}  // namespace ref
}  // namespace fastnn
