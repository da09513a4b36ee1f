// Max/average pooling over one plane, ref instantiation of ../simd/pool_body.h.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/pool_body.h"

}  // namespace ref
}  // namespace fastnn
