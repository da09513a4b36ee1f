// Building blocks of the conv2d drivers; see conv2d_parts.h for the contracts.
#include "conv2d_parts.h"


namespace fastnn {
namespace conv {

namespace {

// dst[t] = row[ix0 + t*s] for t < len where 0 <= ix0 + t*s < w, else 0 (row == null: all zero).
inline void gather_row(const float* row, int64_t ix0, int64_t s, int64_t w, int64_t len, float* dst) {
  if (!row) {
    std::fill(dst, dst + len, 0.0f);
    return;
  }
  int64_t lo = ix0 >= 0 ? 0 : (-ix0 + s - 1) / s;
  int64_t hi = ix0 >= w ? 0 : (w - ix0 + s - 1) / s;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  std::fill(dst, dst + lo, 0.0f);
  const float* src = row + ix0;
  if (s == 1) {
    for (int64_t t = lo; t < hi; ++t) dst[t] = src[t];
  } else {
    for (int64_t t = lo; t < hi; ++t) dst[t] = src[t * s];
  }
  std::fill(dst + hi, dst + len, 0.0f);
}

// row[ix0 + t*s] += src[t] for t < len where the column is inside [0, w).
inline void scatter_add_row(float* row, int64_t ix0, int64_t s, int64_t w, int64_t len,
                            const float* src) {
  int64_t lo = ix0 >= 0 ? 0 : (-ix0 + s - 1) / s;
  int64_t hi = ix0 >= w ? 0 : (w - ix0 + s - 1) / s;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  float* dst = row + ix0;
  if (s == 1) {
    for (int64_t t = lo; t < hi; ++t) dst[t] += src[t];
  } else {
    for (int64_t t = lo; t < hi; ++t) dst[t * s] += src[t];
  }
}

// Input row of im2col row p at output row oy (null when it falls in the padding), and the input
// column of output column 0.
const float* input_row(const float* x, const Conv2dGeom& g, int64_t p, int64_t oy, int64_t* ix0) {
  const int64_t taps = g.kh * g.kw;
  const int64_t ch = p / taps, r = p % taps, ki = r / g.kw, kj = r % g.kw;
  const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
  *ix0 = -g.pw + kj * g.dw;
  if (iy < 0 || iy >= g.h) return nullptr;
  return x + (ch * g.h + iy) * g.w;
}

}  // namespace

// ---- PaddedWidth ---------------------------------------------------------------------------------

void PaddedWidth::pad(const float* x, const Conv2dGeom& g, int64_t cg, float* dst) const {
  const auto copy = kernels().f32_copy_rows_padded;
  for (int64_t ch = 0; ch < cg; ++ch) {
    float* d = dst + ch * plane;
    std::fill(d, d + g.ph * wp, 0.0f);
    copy(x + ch * g.h * g.w, g.w, g.w, g.pw, g.h, d + g.ph * wp, wp, wp);
    std::fill(d + (g.ph + g.h) * wp, d + plane, 0.0f);
  }
  std::fill(dst + cg * plane, dst + cg * plane + slack, 0.0f);
}

void PaddedWidth::expand(const float* src, int64_t rows, float* dst) const {
  kernels().f32_copy_rows_padded(src, ow, ow, 0, rows * oh, dst, wp, wp);
}

void PaddedWidth::col2im(const float* dcol, int64_t ld, const Conv2dGeom& g, int64_t cg,
                         float* dx) const {
  const auto row = kernels().f32_col2im_row;
  const int64_t taps = g.kh * g.kw;
  for (int64_t ch = 0; ch < cg; ++ch)
    for (int64_t y = 0; y < g.h; ++y)
      row(dcol + ch * taps * ld, ld, wp, g, y, dx + (ch * g.h + y) * g.w);
}

// ---- Im2col (any stride) -------------------------------------------------------------------------

void Im2col::pack_b(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst) const {
  if (g.is_pointwise()) {  // the group's input planes are the cg x HW matrix itself
    pack_b_f32(MatView{x, g.cg(), g.in_plane(), g.in_plane(), 1}, p0, j0, kc, nc, nr, dst);
    return;
  }
  struct Seg { int64_t oy, ox, len, at; };
  std::vector<Seg> segs;
  segs.reserve(static_cast<size_t>(nr) + 1);
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const int64_t nn = std::min<int64_t>(nr, nc - jr);
    float* panel = dst + (jr / nr) * kc * nr;
    segs.clear();
    for (int64_t t = 0; t < nn;) {  // the panel's columns, split at output-row ends
      const int64_t j = j0 + jr + t, oy = j / g.ow, ox = j % g.ow;
      const int64_t len = std::min(nn - t, g.ow - ox);
      segs.push_back({oy, ox, len, t});
      t += len;
    }
    for (int64_t p = 0; p < kc; ++p) {
      float* d = panel + p * nr;
      for (const Seg& s : segs) {
        int64_t ix0;
        const float* row = input_row(x, g, p0 + p, s.oy, &ix0);
        gather_row(row, ix0 + s.ox * g.sw, g.sw, g.w, s.len, d + s.at);
      }
      std::fill(d + nn, d + nr, 0.0f);
    }
  }
}

void col2im_add(const float* dcol, const Conv2dGeom& g, float* dx) {
  const int64_t K = g.kdim(), P = g.out_plane(), taps = g.kh * g.kw;
  for (int64_t p = 0; p < K; ++p) {
    const int64_t ch = p / taps, r = p % taps, ki = r / g.kw, kj = r % g.kw;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      scatter_add_row(dx + (ch * g.h + iy) * g.w, -g.pw + kj * g.dw, g.sw, g.w, g.ow,
                      dcol + p * P + oy * g.ow);
    }
  }
}

}  // namespace conv
}  // namespace fastnn
