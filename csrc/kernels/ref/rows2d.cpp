// Strided row copies with zero fill (padding conv inputs), ref instantiation of
// ../simd/rows2d_body.h.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/rows2d_body.h"

}  // namespace ref
}  // namespace fastnn
