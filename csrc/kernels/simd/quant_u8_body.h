// The SIMD leaves of the quantized tensors and layers, written once for every vector ISA
// (contracts: kernel_table.h, "Quantized tensors and layers"; ref/quant.cpp is the independent
// reference). Templates over the including ISA's vector traits V (struct Vec of vec_<isa>.h), so
// every ISA gets its own instantiation: code built with wide flags can never be picked by the
// linker for a caller on an older CPU (plain inline functions would be merged across folders).
// f32_quantize_u8_body uses V's operations; the u8 layer bodies are plain loops that the compiler
// vectorises with each folder's flags (V only keys their instantiation).
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace simd {

// q[i] = sat_u8(nearbyint(x[i] * inv_scale) + zp) in float32, as ref/quant.cpp: 4 vectors per
// block packed into one store of 4 * kWidth bytes; the tail runs the same block with masks. max
// and min put the constant second, so a NaN lane becomes 0 (V::max / V::min return b on NaN).
template <class V>
inline void f32_quantize_u8_body(const float* x, uint8_t* q, int64_t n, float inv_scale,
                                 float zp) {
  constexpr int64_t kW = V::kWidth;
  const typename V::F vinv = V::set1(inv_scale), vzp = V::set1(zp);
  const typename V::F lo = V::zero(), hi = V::set1(255.0f);
  auto quantize = [&](const float* p, int64_t rem) {  // the first rem lanes (rem may be <= 0)
    const typename V::F v = V::load(V::first(rem > 0 ? rem : 0), p);
    const typename V::F r = V::add(V::round(V::mul(v, vinv)), vzp);
    return V::cvti(V::min(V::max(r, lo), hi));
  };
  auto block = [&](int64_t i, int64_t rem) {
    V::store_u8(rem, q + i,
                V::pack_u8(quantize(x + i, rem), quantize(x + i + kW, rem - kW),
                           quantize(x + i + 2 * kW, rem - 2 * kW),
                           quantize(x + i + 3 * kW, rem - 3 * kW)));
  };
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) block(i, 4 * kW);
  if (i < n) block(i, n - i);
}

// Channels outer-vectorised: out = taps[0], then one max pass per tap (the j loops vectorise).
template <class V>
inline void u8_max_taps_body(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  std::memcpy(out, taps[0], static_cast<size_t>(c));
  for (int64_t t = 1; t < ntaps; ++t) {
    const uint8_t* s = taps[t];
    for (int64_t j = 0; j < c; ++j) out[j] = s[j] > out[j] ? s[j] : out[j];
  }
}

template <class V>
inline void u8_sum_rows_body(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = x + r * c;
    for (int64_t j = 0; j < c; ++j) acc[j] += row[j];
  }
}

template <class V>
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

// im2col rows copying each run with one or more whole W-byte moves (fixed-size memcpy: vector
// moves with any ISA's flags); up to W - 1 bytes past a run are read and written. soff / doff:
// the runs' offsets in the band (from the window's top-left pixel) and in the row.
template <class V, int W>
inline void im2col_rows_w(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0,
                          int64_t p0, int64_t count, uint8_t* dst, const int64_t* soff,
                          const int64_t* doff, int64_t runs, int64_t run) {
  const uint32_t pad4 = 0x01010101u * g.pad;
  const int64_t step = g.sw * g.c, line_step = g.sh * xs;
  int64_t ox = p0 % g.ow;
  const uint8_t* line = xp + ((p0 / g.ow) * g.sh - y0) * xs;
  const uint8_t* base = line + ox * step;
  for (int64_t r = 0; r < count; ++r) {
    uint8_t* row = dst + r * g.kp;
    for (int64_t t = 0; t < runs; ++t)
      for (int64_t j = 0; j < run; j += W) std::memcpy(row + doff[t] + j, base + soff[t] + j, W);
    for (int64_t j = g.k; j < g.kp; j += 4) std::memcpy(row + j, &pad4, 4);
    base += step;
    if (++ox == g.ow) {
      ox = 0;
      line += line_step;
      base = line;
    }
  }
}

template <class V>
inline void u8_im2col_band_body(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0,
                                int64_t p0, int64_t count, uint8_t* dst) {
  // One run of kw * c bytes per ky when the taps of a row are adjacent (dw == 1), else c bytes.
  const int64_t run = g.dw == 1 ? g.kw * g.c : g.c, per_ky = g.dw == 1 ? 1 : g.kw;
  const int64_t runs = g.kh * per_ky;
  int64_t soff_fixed[64], doff_fixed[64];
  std::vector<int64_t> big;
  int64_t* soff = soff_fixed;
  int64_t* doff = doff_fixed;
  if (runs > 64) {
    big.resize(static_cast<size_t>(2 * runs));
    soff = big.data();
    doff = big.data() + runs;
  }
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < per_ky; ++kx) {
      soff[ky * per_ky + kx] = ky * g.dh * xs + kx * g.dw * g.c;
      doff[ky * per_ky + kx] = (ky * per_ky + kx) * run;
    }
  if (run <= 8)
    im2col_rows_w<V, 8>(g, xp, xs, y0, p0, count, dst, soff, doff, runs, run);
  else if (run <= 16)
    im2col_rows_w<V, 16>(g, xp, xs, y0, p0, count, dst, soff, doff, runs, run);
  else if (run <= 32)
    im2col_rows_w<V, 32>(g, xp, xs, y0, p0, count, dst, soff, doff, runs, run);
  else
    im2col_rows_w<V, 64>(g, xp, xs, y0, p0, count, dst, soff, doff, runs, run);
}

}  // namespace simd
}  // namespace fastnn
