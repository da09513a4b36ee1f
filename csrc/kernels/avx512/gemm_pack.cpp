// AVX-512 packing of a block of f32 GEMM micro-panels: avx512 instantiation of
// ../simd/gemm_pack_body.h, 16x16 register transposes, tails by masks.
#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"  // (includes <immintrin.h>)

namespace fastnn {
namespace avx512 {

#include "../simd/vec_avx512.h"

struct PackIo {
  static constexpr bool kSpillStores = false;
  using Tail = __mmask16;
  static Tail tail(int64_t n) { return Vec::first(n); }
  static __m512 load(const float* p, Tail m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, __m512 v, Tail m) { _mm512_mask_storeu_ps(p, m, v); }
};

#include "../simd/gemm_pack_body.h"

}  // namespace avx512
}  // namespace fastnn
