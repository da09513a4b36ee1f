// Depthwise convolution over one plane (forward and both adjoints), ref instantiation of ../simd/dwconv_body.h.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/dwconv_body.h"

}  // namespace ref
}  // namespace fastnn
