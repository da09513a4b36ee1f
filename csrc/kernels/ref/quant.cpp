// Portable leaves of the quantized tensors and layers (contracts: kernel_table.h, "Quantized
// tensors and layers"). They are the reference the SIMD leaves must match bit for bit: the same
// float32 operations in the same order, round half to even by std::nearbyint.
#include <cmath>
#include <limits>

#include "../simd/quant_u8_body.h"
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

struct Tag {};  // instantiation tag of the shared u8 bodies

void u8_max_taps(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c) {
  simd::u8_max_taps_body<Tag>(taps, ntaps, out, c);
}

void u8_sum_rows(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  simd::u8_sum_rows_body<Tag>(x, rows, c, acc);
}

void u8_maxpool_row(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw, int64_t c,
                    int64_t count, uint8_t* out) {
  simd::u8_maxpool_row_body<Tag>(rows, nrows, kw, sw, c, count, out);
}

void u8_im2col_band(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0, int64_t p0,
                    int64_t count, uint8_t* dst) {
  simd::u8_im2col_band_body<Tag>(g, xp, xs, y0, p0, count, dst);
}

}  // namespace ref
}  // namespace fastnn
