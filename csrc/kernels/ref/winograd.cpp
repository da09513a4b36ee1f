// Winograd F(2x2, 3x3) / F(4x4, 3x3) tile transforms, ref instantiation of ../simd/winograd_body.h.
#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

#include "../simd/vec_scalar.h"
#include "../simd/winograd_body.h"

}  // namespace ref
}  // namespace fastnn
