// AVX2 CSR sparse x dense kernels, avx2 instantiation of ../simd/spmm_csr_body.h: register tile
// = one output row x 32 panel columns (4 vectors of 8).
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

// Accumulator sets of an NV-vector register tile (16 ymm registers).
constexpr int spmm_sets(int nv) { return nv >= 4 ? 2 : (nv == 1 ? 8 : 4); }

#include "../simd/spmm_csr_body.h"

void f32_spmm_csr_8x32(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                       const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                       int64_t ldy, const Epilogue& ep) {
  spmm_csr_body(m, n, row_ptr, col, val, x, ldx, bias, y, ldy, ep);
}

void f32_spmv_csr_fma8(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                       const float* x, const float* bias, float* y, const Epilogue& ep) {
  spmv_csr_body(m, row_ptr, col, val, x, bias, y, ep);
}

}  // namespace avx2
}  // namespace fastnn
