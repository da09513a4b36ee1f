// [optim] AVX2+FMA optimizer updates and reductions: the formulas of ../optim_body.h over the AVX2
// vector traits (../simd/vec_avx2.h: 8 float lanes, maskload/maskstore tails).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/optim_params.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"
#include "../optim_body.h"

}  // namespace avx2
}  // namespace fastnn
