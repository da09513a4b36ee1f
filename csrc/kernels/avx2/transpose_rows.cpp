// Transposing pack, AVX2: 8 x 8 register transposes. Contract: kernel_table.h
// (f32_transpose_rows_fn). Tails use vmaskmov in the same body; rows past nrows are zero vectors.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

namespace {

inline __m256i first8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(n, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// v[r][c] -> v[c][r].
inline void transpose_8x8(__m256 v[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
  }
  __m256 s[8];
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
    v[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
  }
}

}  // namespace

void f32_transpose_rows(const float* const* rows, int64_t nrows, int64_t len, int64_t ld,
                        int64_t width, const float* add, float* dst) {
  static const float kZero[8] = {};
  const __m256i none = _mm256_setzero_si256();
  for (int64_t r0 = 0; r0 < width; r0 += 8) {
    const int64_t real = std::clamp<int64_t>(nrows - r0, 0, 8);
    const __m256i cols = first8(width - r0);
    for (int64_t t0 = 0; t0 < len; t0 += 8) {
      const int64_t tb = std::min<int64_t>(8, len - t0);
      const __m256i tmask = first8(tb);
      __m256 v[8];
      for (int r = 0; r < 8; ++r) {
        const bool on = r < real;
        v[r] = _mm256_maskload_ps(on ? rows[r0 + r] + t0 : kZero, on ? tmask : none);
      }
      transpose_8x8(v);
      for (int64_t t = 0; t < tb; ++t) {
        const __m256 vt = add ? _mm256_blendv_ps(v[t], _mm256_add_ps(v[t], _mm256_set1_ps(add[t0 + t])),
                                                 _mm256_castsi256_ps(first8(real)))
                              : v[t];
        _mm256_maskstore_ps(dst + (t0 + t) * ld + r0, cols, vt);
      }
    }
  }
}

}  // namespace avx2
}  // namespace fastnn
