// AVX2 GEMM epilogue, c = act(c + bias[col]): avx2 instantiation of ../simd/gemm_epilogue_body.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../simd/gemm_epilogue_body.h"

}  // namespace avx2
}  // namespace fastnn
