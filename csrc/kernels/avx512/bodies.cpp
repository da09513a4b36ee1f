// The AVX-512 (F/BW/VL/DQ) instantiations of the SIMD bodies that need nothing of this ISA beyond the
// traits of ../simd/vec_avx512.h: one translation unit (the traits and headers parsed once).
// ISA-specific kernels (micro-kernels, int8, binary) have files of their own; elementwise.cpp
// instantiates the large elementwise bodies apart, so the two halves compile in parallel.
#include <immintrin.h>
#include <algorithm>
#include <cassert>
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
// One output row of a short-contraction stride-1 convolution (first layers)
#include "../simd/conv_taps_body.h"
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

// Transposing copy in register blocks, masked edges
#include "../simd/transpose_body.h"
// [sparse / prune] pruning-mask application x *= mask
#include "../simd/mask_mul_body.h"
void f32_mask_mul_16(float* x, const float* mask, int64_t n) { mask_mul(x, mask, n); }
// CSR sparse x dense kernels: register tile
// = one output row x 64 panel columns (4 vectors of 16).
//   Bound: every FMA needs its own zmm load of X (with unstructured sparsity no two rows share a
//   column pattern, so nothing is reused from registers). Measured on Zen 5 per stored entry per
//   64 columns: 3.3 cycles with X in L1 and long rows, 4.0 with ~13-entry rows, ~4.9 with a
//   1024-row panel (256 KiB) in L2; dense GEMM does ~14 FMAs per load.
//   f32_spmv_csr_fma8: measured 1.2 cycles/entry against 1.4 for a 16-wide gather version
//   (vgatherdps is slow here), so the scalar form is the fast one.
// Accumulator sets of an NV-vector register tile (measured: more sets spill or do not pay).
constexpr int spmm_sets(int nv) { return nv >= 3 ? 2 : 4; }
#include "../simd/spmm_csr_body.h"

}  // namespace avx512
}  // namespace fastnn
