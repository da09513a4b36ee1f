// The AVX-512 (F/BW/VL/DQ) instantiations of the SIMD bodies that need nothing of this ISA beyond the
// traits of ../simd/vec_avx512.h: one translation unit (the traits and headers parsed once).
// ISA-specific kernels (micro-kernels, int8, binary, elementwise) have files of their own.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"
#include "fastnn/optim_params.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

// Row and column reductions and affine maps for batch norm and global pooling
#include "../simd/rows_body.h"
// Stride-1 col2im (gather form)
#include "../simd/col2im_body.h"
// Depthwise convolution over one plane (forward and both adjoints)
#include "../simd/dwconv_body.h"
// GEMM epilogue, c = act(c + bias[col])
#include "../simd/gemm_epilogue_body.h"
// [optim] optimizer updates and reductions
#include "../optim_body.h"
// Max/average pooling over one plane
#include "../simd/pool_body.h"
// Strided row copies with zero fill (padding conv inputs)
#include "../simd/rows2d_body.h"
// Transposing pack (B^T panels)
#include "../simd/transpose_rows_body.h"
// Winograd F(2x2, 3x3) / F(4x4, 3x3) tile transforms
#include "../simd/winograd_body.h"

}  // namespace avx512
}  // namespace fastnn
