// AVX2 packing of one f32 GEMM micro-panel (contract: f32_pack_panel_fn in kernel_table.h).
//
// Three source layouts, one body each, tails by masks:
//   s_i == 1  the panel's w values of one k step are contiguous: masked 8-lane copies per step.
//   s_p == 1  each of the w lines is contiguous along k (row-major A, or B given transposed):
//             8 lines x 8 steps are loaded, transposed in registers, stored as 8 steps.
//   other     strided gather, element by element (only non-contiguous views take it).
#include <immintrin.h>

#include "fastnn/kernel_table.h"
#include "gemm_avx2_util.h"

namespace fastnn {
namespace avx2 {

namespace {

// In-register transpose of an 8x8 block: r[i] holds row i on entry, column i on return.
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int g = 0; g < 2; ++g) {
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);      // a0 b0 c0 d0 | a4 ..
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);      // a1 b1 c1 d1 | a5 ..
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);  // a2 .. | a6 ..
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);  // a3 .. | a7 ..
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

}  // namespace

void f32_pack_panel(const float* src, int64_t s_i, int64_t s_p, int64_t valid, int64_t kc, int w,
                    float* dst) {
  if (s_i == 1) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = src + p * s_p;
      float* d = dst + p * w;
      for (int i = 0; i < w; i += 8) {
        const __m256 v = _mm256_maskload_ps(s + i, lanes8(valid - i));  // zeros past valid
        _mm256_maskstore_ps(d + i, lanes8(w - i), v);
      }
    }
  } else if (s_p == 1) {
    for (int64_t p = 0; p < kc; p += 8) {
      const __m256i kmask = lanes8(kc - p);
      const int64_t steps = kc - p < 8 ? kc - p : 8;
      for (int i0 = 0; i0 < w; i0 += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i)
          r[i] = i0 + i < valid ? _mm256_maskload_ps(src + (i0 + i) * s_i + p, kmask)
                                : _mm256_setzero_ps();
        transpose8x8(r);
        const __m256i wmask = lanes8(w - i0);
        for (int64_t q = 0; q < steps; ++q) _mm256_maskstore_ps(dst + (p + q) * w + i0, wmask, r[q]);
      }
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * w;
      int i = 0;
      for (; i < valid; ++i) d[i] = src[i * s_i + p * s_p];
      for (; i < w; ++i) d[i] = 0.0f;
    }
  }
}

}  // namespace avx2
}  // namespace fastnn
