// AVX-512 CSR sparse x dense kernels, avx512 instantiation of ../simd/spmm_csr_body.h: register tile
// = one output row x 64 panel columns (4 vectors of 16).
//   Bound: every FMA needs its own zmm load of X (with unstructured sparsity no two rows share a
//   column pattern, so nothing is reused from registers). Measured on Zen 5 per stored entry per
//   64 columns: 3.3 cycles with X in L1 and long rows, 4.0 with ~13-entry rows, ~4.9 with a
//   1024-row panel (256 KiB) in L2; dense GEMM does ~14 FMAs per load.
//   f32_spmv_csr_fma8: measured 1.2 cycles/entry against 1.4 for a 16-wide gather version
//   (vgatherdps is slow here), so the scalar form is the fast one.
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

// Accumulator sets of an NV-vector register tile (measured: more sets spill or do not pay).
constexpr int spmm_sets(int nv) { return nv >= 3 ? 2 : 4; }

#include "../simd/spmm_csr_body.h"

}  // namespace avx512
}  // namespace fastnn
