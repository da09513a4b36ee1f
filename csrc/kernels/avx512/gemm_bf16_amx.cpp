// AMX bf16 tile kernel: TDPBF16PS multiplies a 16 x 32 bf16 A tile by a 16-pair x 16-column B
// tile (each 32-bit element a k pair) into 16 x 16 float32 accumulators: 8K multiply-adds per
// instruction. A 32 x 32 output block keeps four accumulator tiles (tmm0-3) for two A tiles
// (tmm4-5) and two B tiles (tmm6-7), as the int8 kernel (gemm_s8_amx.cpp), whose tile
// configuration (every tile 16 rows x 64 bytes) it shares.
// Layouts (kernel_table.h "[bf16 GEMM]", AMX): A row-major bf16, k padded with zeros to a
// multiple of 32; B the pair panel of 32 columns (128 bytes per k pair), k pairs padded with
// zero words to a multiple of 16. Built with -mamx-tile -mamx-bf16 where the compiler knows them;
// called only after amx_tiles_granted().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // _mm512_setzero / maskz loads in GCC 12
#endif
#include <immintrin.h>

#include <cstdint>

#include "amx_block.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

void bf16_amx_block_32x32(int64_t kb, const uint16_t* a, int64_t a_rs, const uint32_t* b,
                          float* acc, bool two_rows, bool two_cols) {
  amx_zero(two_rows, two_cols);
  for (int64_t q = 0; q < kb; ++q)  // 32 k (16 pairs) per step
    amx_step<true>(two_rows, two_cols, a + q * 32, a + q * 32 + 16 * (a_rs / 2), a_rs,
                   b + q * 16 * 32);
  amx_store(two_rows, two_cols, acc);
}

}  // namespace avx512
}  // namespace fastnn

// ---- the pair panel of a convolution's taps (stride 1, padded-width columns) -------------------
namespace fastnn {
namespace avx512 {

namespace {
// 16 floats rounded to bfloat16 (nearest even; NaN kept quiet) in the high halves.
inline __m512i round_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
}
}  // namespace

void bf16_amx_pack_taps(const float* xp, const int64_t* off, int64_t k, int64_t j0, int64_t nn,
                        int64_t steps, uint32_t* dst) {
  const __mmask16 m0 = static_cast<__mmask16>(nn >= 16 ? 0xffff : (1u << nn) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nn >= 32 ? 0xffff : nn <= 16 ? 0 : (1u << (nn - 16)) - 1);
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int64_t q = 0; q < steps; ++q, dst += 32) {
    const int64_t p = 2 * q;
    if (p >= k) {
      _mm512_store_si512(dst, _mm512_setzero_si512());
      _mm512_store_si512(dst + 16, _mm512_setzero_si512());
      continue;
    }
    const float* lo = xp + off[p] + j0;
    const float* hi = p + 1 < k ? xp + off[p + 1] + j0 : nullptr;
    for (int h = 0; h < 2; ++h) {
      const __mmask16 mk = h ? m1 : m0;
      const __m512i l = round_bf16(_mm512_maskz_loadu_ps(mk, lo + 16 * h));
      const __m512i u = hi ? round_bf16(_mm512_maskz_loadu_ps(mk, hi + 16 * h))
                           : _mm512_setzero_si512();
      _mm512_store_si512(dst + 16 * h,
                         _mm512_or_si512(_mm512_srli_epi32(l, 16), _mm512_and_si512(u, hi_mask)));
    }
  }
}

}  // namespace avx512
}  // namespace fastnn
