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
inline void u8_im2col_body(const U8ConvGeom& g, const uint8_t* img, int64_t p0, int64_t count,
                           uint8_t* dst) {
  for (int64_t r = 0; r < count; ++r) {
    const int64_t p = p0 + r, oy = p / g.ow, ox = p % g.ow;
    uint8_t* row = dst + r * g.kp;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      const bool row_in = iy >= 0 && iy < g.h;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
        uint8_t* d = row + (ky * g.kw + kx) * g.c;
        if (row_in && ix >= 0 && ix < g.w)
          std::memcpy(d, img + (iy * g.w + ix) * g.c, static_cast<size_t>(g.c));
        else
          std::memset(d, g.pad, static_cast<size_t>(g.c));
      }
    }
    std::memset(row + g.k, g.pad, static_cast<size_t>(g.kp - g.k));
  }
}

}  // namespace simd
}  // namespace fastnn
