// Portable leaves of the quantized tensors and layers (contracts: kernel_table.h, "Quantized
// tensors and layers"). They are the reference the SIMD leaves must match bit for bit: the same
// float32 operations in the same order, round half to even by std::nearbyint.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_quantize_u8(const float* x, uint8_t* q, int64_t n, float inv_scale, float zp) {
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] * inv_scale) + zp;
    v = v > 0.0f ? v : 0.0f;  // NaN -> 0
    v = v < 255.0f ? v : 255.0f;
    q[i] = static_cast<uint8_t>(v);
  }
}

void u8_dequantize_f32(const uint8_t* q, float* x, int64_t n, float scale, float zp) {
  for (int64_t i = 0; i < n; ++i) x[i] = (static_cast<float>(q[i]) - zp) * scale;
}

int f32_minmax(const float* x, int64_t n, float* lo, float* hi) {
  float mn = std::numeric_limits<float>::infinity(), mx = -mn;
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    nan |= v != v;
    mn = v < mn ? v : mn;  // false for NaN: skipped
    mx = v > mx ? v : mx;
  }
  *lo = mn;
  *hi = mx;
  return nan;
}

void f32_histogram(const float* x, int64_t n, float lo, float inv_width, int64_t bins, int absval,
                   int64_t* hist) {
  const float top = static_cast<float>(bins - 1);
  for (int64_t i = 0; i < n; ++i) {
    float v = absval ? std::fabs(x[i]) : x[i];
    if (v != v) continue;
    float b = (v - lo) * inv_width;
    b = b > 0.0f ? b : 0.0f;
    b = b < top ? b : top;
    ++hist[static_cast<int64_t>(b)];
  }
}

// The u8 layers, element by element (the SIMD ISAs share ../simd/quant_u8_body.h instead).
void u8_max_taps(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  for (int64_t j = 0; j < c; ++j) {
    uint8_t m = taps[0][j];
    for (int64_t t = 1; t < ntaps; ++t) m = std::max(m, taps[t][j]);
    out[j] = m;
  }
}

void u8_sum_rows(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  for (int64_t j = 0; j < c; ++j) {
    int32_t s = 0;
    for (int64_t r = 0; r < rows; ++r) s += x[r * c + j];
    acc[j] += s;
  }
}

void u8_maxpool_row(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw, int64_t c,
                    int64_t count, uint8_t* out) {
  for (int64_t ox = 0; ox < count; ++ox)
    for (int64_t j = 0; j < c; ++j) {
      uint8_t m = 0;
      for (int64_t t = 0; t < nrows; ++t)
        for (int64_t kx = 0; kx < kw; ++kx) m = std::max(m, rows[t][(ox * sw + kx) * c + j]);
      out[ox * c + j] = m;
    }
}

// Byte by byte, exactly [0, kp) of each row.
void u8_im2col_band(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0, int64_t p0,
                    int64_t count, uint8_t* dst) {
  for (int64_t r = 0; r < count; ++r) {
    const int64_t oy = (p0 + r) / g.ow, ox = (p0 + r) % g.ow;
    uint8_t* row = dst + r * g.kp;
    int64_t j = 0;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const uint8_t* px = xp + (oy * g.sh + ky * g.dh - y0) * xs + (ox * g.sw + kx * g.dw) * g.c;
        for (int64_t ch = 0; ch < g.c; ++ch) row[j++] = px[ch];
      }
    for (; j < g.kp; ++j) row[j] = g.pad;
  }
}

}  // namespace ref
}  // namespace fastnn
