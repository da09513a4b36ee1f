// Transposing pack, AVX-512: 16 x 16 register transposes (unpack, shuffle, two 128-bit lane
// shuffles). Contract: kernel_table.h (f32_transpose_rows_fn). Row/column tails use masked loads and
// stores in the same body; rows past nrows are zero vectors, so they zero-fill the destination.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fastnn/kernel_table.h"

// GCC 12's intrinsic headers trip -Wmaybe-uninitialized (_mm512_undefined_ps inside the shuffles).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace fastnn {
namespace avx512 {

namespace {

inline __mmask16 first16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }

// v[r][c] -> v[c][r].
inline void transpose_16x16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    v[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    v[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    v[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(v[h + i], v[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(v[h + i], v[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    v[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    v[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

}  // namespace

void f32_transpose_rows(const float* const* rows, int64_t nrows, int64_t len, int64_t ld,
                        int64_t width, const float* add, float* dst) {
  static const float kZero[16] = {};
  for (int64_t r0 = 0; r0 < width; r0 += 16) {
    const int64_t real = std::clamp<int64_t>(nrows - r0, 0, 16);
    const __mmask16 cols = first16(width - r0);
    for (int64_t t0 = 0; t0 < len; t0 += 16) {
      const int64_t tb = std::min<int64_t>(16, len - t0);
      const __mmask16 tmask = first16(tb);
      __m512 v[16];
      for (int r = 0; r < 16; ++r) {
        const bool on = r < real;
        v[r] = _mm512_maskz_loadu_ps(on ? tmask : __mmask16(0), on ? rows[r0 + r] + t0 : kZero);
      }
      transpose_16x16(v);
      for (int64_t t = 0; t < tb; ++t) {
        const __m512 vt = add ? _mm512_mask_add_ps(v[t], first16(real), v[t], _mm512_set1_ps(add[t0 + t])) : v[t];
        _mm512_mask_storeu_ps(dst + (t0 + t) * ld + r0, cols, vt);
      }
    }
  }
}

}  // namespace avx512
}  // namespace fastnn
