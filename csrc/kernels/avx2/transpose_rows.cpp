// Transposing pack, AVX2: avx2 instantiation of ../simd/transpose_rows_body.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/transpose_rows_body.h"

}  // namespace avx2
}  // namespace fastnn
