// AVX-512 GEMM epilogue, c = act(c + bias[col]): avx512 instantiation of ../simd/gemm_epilogue_body.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../simd/gemm_epilogue_body.h"

}  // namespace avx512
}  // namespace fastnn
