// Stride-1 col2im (gather form), ref instantiation of ../simd/col2im_body.h.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/col2im_body.h"

}  // namespace ref
}  // namespace fastnn
