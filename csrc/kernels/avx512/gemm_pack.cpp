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
  static __m512 load(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lanes16(n), p); }
  static void store(float* p, __m512 v, int64_t n) { _mm512_mask_storeu_ps(p, lanes16(n), v); }
};

#include "../simd/gemm_pack_body.h"

}  // namespace avx512
}  // namespace fastnn
