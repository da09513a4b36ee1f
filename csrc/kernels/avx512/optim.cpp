// [optim] AVX-512 optimizer updates and reductions: the formulas of ../optim_body.h over the
// AVX-512 vector traits (../simd/vec_avx512.h: 16 float lanes, __mmask16 tails).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"
#include "../optim_body.h"

}  // namespace avx512
}  // namespace fastnn
