// u8 layer leaves written once as plain loops that the compiler vectorises with each folder's ISA
// flags (contracts: kernel_table.h, "Quantized tensors and layers"). Templates over a tag type
// from the including ISA namespace (ref::Tag, avx2::Simd, ...), so every ISA gets its own
// instantiation: code built with wide flags can never be picked by the linker for a caller on an
// older CPU (plain inline functions would be merged across folders).
#pragma once
#include <cstdint>
#include <cstring>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace simd {

// Channels outer-vectorised: out = taps[0], then one max pass per tap (the j loops vectorise).
template <class Tag>
inline void u8_max_taps_body(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  std::memcpy(out, taps[0], static_cast<size_t>(c));
  for (int64_t t = 1; t < ntaps; ++t) {
    const uint8_t* s = taps[t];
    for (int64_t j = 0; j < c; ++j) out[j] = s[j] > out[j] ? s[j] : out[j];
  }
}

template <class Tag>
inline void u8_sum_rows_body(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = x + r * c;
    for (int64_t j = 0; j < c; ++j) acc[j] += row[j];
  }
}

template <class Tag>
inline void u8_maxpool_row_body(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw,
                                int64_t c, int64_t count, uint8_t* out) {
  for (int64_t ox = 0; ox < count; ++ox) {
    uint8_t* o = out + ox * c;
    std::memcpy(o, rows[0] + ox * sw * c, static_cast<size_t>(c));
    for (int64_t t = 0; t < nrows; ++t)
      for (int64_t kx = t == 0 ? 1 : 0; kx < kw; ++kx) {
        const uint8_t* s = rows[t] + (ox * sw + kx) * c;
        for (int64_t j = 0; j < c; ++j) o[j] = s[j] > o[j] ? s[j] : o[j];
      }
  }
}

// len bytes from s to d by whole 16 / 32 / 64-byte moves (fixed-size memcpy: one or two vector
// moves with any ISA's flags); up to 63 bytes past len are read and written.
template <class Tag>
inline void copy_run_overlapping(uint8_t* d, const uint8_t* s, int64_t len) {
  if (len <= 16) {
    std::memcpy(d, s, 16);
  } else if (len <= 32) {
    std::memcpy(d, s, 32);
  } else {
    for (int64_t j = 0; j < len; j += 64) std::memcpy(d + j, s + j, 64);
  }
}

template <class Tag>
inline void u8_im2col_band_body(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0,
                                int64_t p0, int64_t count, uint8_t* dst) {
  const uint32_t pad4 = 0x01010101u * g.pad;
  const int64_t run = g.dw == 1 ? g.kw * g.c : g.c, runs_x = g.dw == 1 ? 1 : g.kw;
  int64_t oy = p0 / g.ow, ox = p0 % g.ow;
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* base = xp + (oy * g.sh - y0) * xs + ox * g.sw * g.c;
    uint8_t* row = dst + r * g.kp;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < runs_x; ++kx)
        copy_run_overlapping<Tag>(row + (ky * runs_x + kx) * run, base + ky * g.dh * xs + kx * g.dw * g.c,
                             run);
    for (int64_t j = g.k; j < g.kp; j += 4) std::memcpy(row + j, &pad4, 4);
    if (++ox == g.ow) {
      ox = 0;
      ++oy;
    }
  }
}

}  // namespace simd
}  // namespace fastnn
