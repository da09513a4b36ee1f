// avx2 leaves of the elementwise layer and cross-entropy kernels: the wrappers of
// ../simd/elementwise_leaves.h compiled with this ISA's vector traits (vec_avx2.h). Contracts:
// kernel_table.h.
#include <immintrin.h>

#include <cstdint>

#include "../simd/elementwise_body.h"
#include "../simd/loss_body.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/elementwise_leaves.h"

}  // namespace avx2
}  // namespace fastnn
