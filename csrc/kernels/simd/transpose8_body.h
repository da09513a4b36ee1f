// 8x8 f32 transpose in ymm registers, included inside namespace fastnn::<isa> of the AVX2 and
// AVX-512 folders (each instantiation is built with its folder's flags and stays in its namespace).
#pragma once

// r[i] holds row i of an 8x8 block; on return r[j] holds column j.
inline void transpose_8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4h + e], 128-bit lane L: column 4L + e of rows 4h .. 4h+3.
  for (int h = 0; h < 2; ++h) {
    s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x20);
    r[4 + e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x31);
  }
}
