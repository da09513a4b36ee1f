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

}  // namespace avx2
}  // namespace fastnn
