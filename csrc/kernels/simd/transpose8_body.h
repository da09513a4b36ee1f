// 8x8 f32 transpose in ymm registers, and the in-lane rounds every register transpose shares
// (transpose16_body.h). Included inside namespace fastnn::<isa> of the AVX2 and AVX-512 folders
// (each instantiation is built with its folder's flags and stays in its namespace).
#pragma once

// The first two rounds of the transpose of N rows of floats in ymm or zmm registers R (N = 8 or
// 16), within each 128-bit lane: 32-bit pairs (vunpck*ps), then 64-bit pairs (vshufps). On return
// u[4g + e], lane L, holds column 4L + e of rows 4g .. 4g+3. Only R's branches are instantiated.
template <int I>
struct ShuffleImm {  // vshufps's immediate as a type: it must be a compile-time constant
  static constexpr int value = I;
};

template <class R, int N>
inline void transpose_in_lanes(const R* r, R* u) {
  constexpr bool kYmm = sizeof(R) == 32;
  R t[N];
  for (int i = 0; i < N / 2; ++i) {
    if constexpr (kYmm) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    } else {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
  }
  auto shuffle = [](R a, R b, auto imm) {
    if constexpr (kYmm)
      return _mm256_shuffle_ps(a, b, decltype(imm)::value);
    else
      return _mm512_shuffle_ps(a, b, decltype(imm)::value);
  };
  using Lo = ShuffleImm<_MM_SHUFFLE(1, 0, 1, 0)>;
  using Hi = ShuffleImm<_MM_SHUFFLE(3, 2, 3, 2)>;
  for (int g = 0; g < N / 4; ++g) {
    u[4 * g + 0] = shuffle(t[4 * g], t[4 * g + 2], Lo());
    u[4 * g + 1] = shuffle(t[4 * g], t[4 * g + 2], Hi());
    u[4 * g + 2] = shuffle(t[4 * g + 1], t[4 * g + 3], Lo());
    u[4 * g + 3] = shuffle(t[4 * g + 1], t[4 * g + 3], Hi());
  }
}

// r[i] holds row i of an 8x8 block; on return r[j] holds column j (the last round swaps the
// 128-bit lanes of rows 4h .. 4h+3).
inline void transpose_8x8(__m256 r[8]) {
  __m256 s[8];
  transpose_in_lanes<__m256, 8>(r, s);
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x20);
    r[4 + e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x31);
  }
}
