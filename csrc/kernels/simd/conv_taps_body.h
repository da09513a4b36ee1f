// One output row of a short-contraction stride-1 convolution (kernel_table.h f32_conv_taps_row),
// one body for every ISA: included inside namespace fastnn::<isa> after that ISA's `struct Vec`.
// Output pixels across the lanes, 8 output channels per pass in registers: each input vector
// (one tap) is loaded once per pass and feeds 8 FMAs.

// (A branch-free tap loop: with the masked load chosen inside it, GCC kept the accumulators in
// registers but also stored them to the stack on every tap.)
template <int KB, bool kFull>
inline void conv_taps_block(const float* src, const int64_t* off, int64_t taps, const float* w,
                            const float* bias, Vec::M m, float* y, int64_t ldy) {
  Vec::F acc[KB];
#pragma GCC unroll 8
  for (int q = 0; q < KB; ++q) acc[q] = Vec::set1(bias ? bias[q] : 0.0f);
  for (int64_t t = 0; t < taps; ++t) {
    const Vec::F xv = kFull ? Vec::loadu(src + off[t]) : Vec::load(m, src + off[t]);
#pragma GCC unroll 8
    for (int q = 0; q < KB; ++q) acc[q] = Vec::fmadd(Vec::set1(w[q * taps + t]), xv, acc[q]);
  }
#pragma GCC unroll 8
  for (int q = 0; q < KB; ++q) Vec::store(m, y + q * ldy, acc[q]);
}

template <int KB>
inline void conv_taps_block(const float* src, const int64_t* off, int64_t taps, const float* w,
                            const float* bias, Vec::M m, bool full, float* y, int64_t ldy) {
  if (full) conv_taps_block<KB, true>(src, off, taps, w, bias, m, y, ldy);
  else conv_taps_block<KB, false>(src, off, taps, w, bias, m, y, ldy);
}

void f32_conv_taps_row(const float* src, const int64_t* off, int64_t taps, const float* w,
                       const float* bias, int64_t k, int64_t ow, float* y, int64_t ldy) {
  constexpr int KB = 8;
  for (int64_t ox = 0; ox < ow; ox += Vec::kWidth) {
    const Vec::M m = Vec::first(ow - ox);
    const bool full = ox + Vec::kWidth <= ow;
    int64_t j = 0;
    for (; j + KB <= k; j += KB)
      conv_taps_block<KB>(src + ox, off, taps, w + j * taps, bias ? bias + j : nullptr, m, full,
                          y + j * ldy + ox, ldy);
    for (; j < k; ++j)
      conv_taps_block<1>(src + ox, off, taps, w + j * taps, bias ? bias + j : nullptr, m, full,
                         y + j * ldy + ox, ldy);
  }
}
