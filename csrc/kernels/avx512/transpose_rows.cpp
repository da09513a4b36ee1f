// Transposing pack, AVX-512: avx512 instantiation of ../simd/transpose_rows_body.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/transpose_rows_body.h"

}  // namespace avx512
}  // namespace fastnn
