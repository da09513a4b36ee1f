// AVX2 u8 x s8 -> s32 GEMM micro-kernel, 2x32 tile computed as two 2x16 halves (8 ymm
// accumulators each), reading the same packed B panels as the VNNI kernel. Two rows, not three:
// 3 x 4 accumulators + 3 A + 1 B + the vpmaddwd result need 17 of the 16 ymm registers, and the
// spills made the 3-row tile 15% slower here.
//
// Exactness: vpmaddubsw (u8 x s8, adjacent pairs summed into int16) saturates: 255*127 + 255*127
// = 64770 > 32767 (the bug behind pytorch#44939). Instead both operands are widened to int16 -
// A zero-extended (vpmovzxbw), B sign-extended (vpmovsxbw) - and multiplied with vpmaddwd, whose
// pair sums (<= 2 * 255 * 128 = 65280) are exact in int32. Weights keep all 8 bits (no 7-bit
// restriction, no accuracy cost); the price is ~1/3 more multiply-adds than maddubs would need.
// Widened B lanes hold (k0,k1) and (k2,k3) of one column; A is broadcast as the matching pattern,
// and the two lanes of each column are added (vphaddd) once, after the K loop.
#include <immintrin.h>

#include <cstdint>

#include <cstring>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

#include "../simd/vec_avx2.h"

constexpr int kMR = 2;

namespace {

inline __m256i broadcast_group(const uint8_t* p) {  // (a0,a1),(a2,a3) as int16 pairs, x4
  int32_t x;
  std::memcpy(&x, p, sizeof x);
  return _mm256_cvtepu8_epi16(_mm_set1_epi32(x));
}

// The epilogue of kernel_table.h on 8 columns [j, j + 8) of one row; n8 of them are stored.
inline void store8(__m256i acc, const S8Epilogue& ep, int64_t j, void* ci, int64_t n8) {
  if (n8 <= 0) return;
  const __m256i mask = Vec::first(n8);
  const __m256i v = _mm256_add_epi32(
      acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ep.offset + j)));
  if (ep.out == S8Out::s32) {
    _mm256_maskstore_epi32(static_cast<int*>(ci) + j, mask, v);
    return;
  }
  __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_loadu_ps(ep.scale + j),
                             _mm256_loadu_ps(ep.shift + j));
  if (ep.out == S8Out::f32) {
    if (ep.relu) y = _mm256_max_ps(y, _mm256_setzero_ps());  // NaN, -0 -> +0 (second operand)
    _mm256_maskstore_ps(static_cast<float*>(ci) + j, mask, y);
    return;
  }
  y = _mm256_max_ps(y, _mm256_set1_ps(ep.lo));
  y = _mm256_min_ps(y, _mm256_set1_ps(ep.hi));
  const __m256i q = _mm256_cvttps_epi32(_mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __m256i q16 = _mm256_packus_epi32(q, q);      // per 128-bit lane: q0..q3 twice
  const __m256i q8 = _mm256_packus_epi16(q16, q16);   // per lane: bytes q0..q3 (x4)
  const uint64_t bytes = uint64_t(uint32_t(_mm256_cvtsi256_si32(q8))) |
                         (uint64_t(uint32_t(_mm256_extract_epi32(q8, 4))) << 32);
  std::memcpy(static_cast<uint8_t*>(ci) + j, &bytes, static_cast<size_t>(n8 < 8 ? n8 : 8));
}

// Rows [0, MR) x columns [16 * half, 16 * half + 16) of the panel.
template <int MR>
void half_tile(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b, void* c,
               int64_t ldc, int64_t n, int half, const S8Epilogue& ep) {
  __m256i vacc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < 4; ++q) vacc[i][q] = _mm256_setzero_si256();
  b += 64 * half;
  for (int64_t g = 0; g < kg; ++g) {
    __m256i va[MR];
    for (int i = 0; i < MR; ++i) va[i] = broadcast_group(a + i * a_rs);
    for (int q = 0; q < 4; ++q) {  // 4 columns per quad
      const __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * q)));
      for (int i = 0; i < MR; ++i) vacc[i][q] = _mm256_add_epi32(vacc[i][q], _mm256_madd_epi16(va[i], vb));
    }
    b += kS8NR * kS8KG;
    a += a_gs;
  }
  const int64_t esize = ep.out == S8Out::u8 ? 1 : 4;
  const int64_t j0 = 16 * half;
  for (int i = 0; i < MR; ++i) {
    // hadd -> [c0 c1 c4 c5 | c2 c3 c6 c7]; the permute restores column order.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(vacc[i][0], vacc[i][1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(vacc[i][2], vacc[i][3]), 0xD8);
    void* ci = static_cast<char*>(c) + i * ldc * esize;
    store8(lo, ep, j0, ci, n - j0);
    store8(hi, ep, j0 + 8, ci, n - j0 - 8);
  }
}

template <int MR>
void tile(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b, void* c,
          int64_t ldc, int64_t n, const S8Epilogue& ep) {
  half_tile<MR>(kg, a, a_rs, a_gs, b, c, ldc, n, 0, ep);
  if (n > 16) half_tile<MR>(kg, a, a_rs, a_gs, b, c, ldc, n, 1, ep);
}

}  // namespace

void u8s8_gemm_ukr_2x32(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                        void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep) {
  switch (m) {
    case 2: return tile<2>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    case 1: return tile<1>(kg, a, a_rs, a_gs, b, c, ldc, n, ep);
    default: return;  // the driver never passes m outside [1, kMR]
  }
}

}  // namespace avx2
}  // namespace fastnn
