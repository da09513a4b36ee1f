// AVX2 packing of a block of f32 GEMM micro-panels: avx2 instantiation of
// ../simd/gemm_pack_body.h, 8x8 register transposes.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"
#include "gemm_avx2_util.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

// Partial vectors by whole loads/stores plus 4/2/1-lane pieces (gemm_avx2_util.h): vmaskmovps
// stores are slow on AMD cores, so narrow panels also store whole vectors where that is safe.
struct PackIo {
  static constexpr bool kSpillStores = true;
  using Tail = int64_t;
  static Tail tail(int64_t n) { return n; }
  static __m256 load(const float* p, Tail n) { return load8(p, n); }
  static void store(float* p, __m256 v, Tail n) { store8(p, v, n); }
};

#include "../simd/gemm_pack_body.h"

}  // namespace avx2
}  // namespace fastnn
