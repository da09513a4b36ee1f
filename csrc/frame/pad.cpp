// 2-D padding (constant, reflect, replicate, circular) and its adjoint, OpenMP over planes. A
// copy: no arithmetic in the forward, additions only in the backward; plain loops, the same on
// every ISA.
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

// The input index a padded index i (in [-before, n + after)) reads.
inline int64_t source(int64_t i, int64_t n, int mode) {
  if (i >= 0 && i < n) return i;
  if (mode == 1) return i < 0 ? -i : 2 * (n - 1) - i;  // reflect (pad < n)
  if (mode == 3) return i < 0 ? i + n : i - n;           // circular (pad <= n: one wrap)
  return i < 0 ? 0 : n - 1;                              // replicate
}

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

void pad2d_check(const Pad2d& p) {
  if (p.h < 1 || p.w < 1)
    throw std::invalid_argument("pad2d: input plane must be non-empty, got " + str(p.h) + "x" +
                                str(p.w));
  const int64_t pads[4] = {p.top, p.bottom, p.left, p.right};
  for (int64_t v : pads)
    if (v < 0 || v > (int64_t(1) << 30))
      throw std::invalid_argument("pad2d: padding must be in [0, 2**30], got " + str(v));
  if (p.mode < 0 || p.mode > 3)
    throw std::invalid_argument(
        "pad2d: mode must be 0 (constant), 1 (reflect), 2 (replicate) or 3 (circular)");
  if (p.mode == 1 && (p.top >= p.h || p.bottom >= p.h || p.left >= p.w || p.right >= p.w))
    throw std::invalid_argument("pad2d: reflect padding (" + str(p.top) + ", " + str(p.bottom) +
                                ", " + str(p.left) + ", " + str(p.right) +
                                ") must be smaller than the input extent (" + str(p.h) + ", " +
                                str(p.w) + ")");
  if (p.mode == 3 && (p.top > p.h || p.bottom > p.h || p.left > p.w || p.right > p.w))
    throw std::invalid_argument("pad2d: circular padding (" + str(p.top) + ", " + str(p.bottom) +
                                ", " + str(p.left) + ", " + str(p.right) +
                                ") must not exceed the input extent (" + str(p.h) + ", " +
                                str(p.w) + "): it would wrap around more than once");
}

void pad2d_forward(const float* x, int64_t planes, const Pad2d& p, float* y) {
  pad2d_check(p);
  const int64_t oh = p.h + p.top + p.bottom, ow = p.w + p.left + p.right;
#pragma omp parallel for schedule(static) if (planes * oh * ow > (1 << 15))
  for (int64_t c = 0; c < planes; ++c) {
    const float* xp = x + c * p.h * p.w;
    float* yp = y + c * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      float* row = yp + i * ow;
      const int64_t si = i - p.top;
      if (p.mode == 0 && (si < 0 || si >= p.h)) {
        for (int64_t j = 0; j < ow; ++j) row[j] = p.value;
        continue;
      }
      const float* src = xp + source(si, p.h, p.mode) * p.w;
      for (int64_t j = 0; j < p.left; ++j)
        row[j] = p.mode == 0 ? p.value : src[source(j - p.left, p.w, p.mode)];
      std::memcpy(row + p.left, src, sizeof(float) * p.w);
      for (int64_t j = p.left + p.w; j < ow; ++j)
        row[j] = p.mode == 0 ? p.value : src[source(j - p.left, p.w, p.mode)];
    }
  }
}

void pad2d_backward(const float* dy, int64_t planes, const Pad2d& p, float* dx) {
  pad2d_check(p);
  const int64_t oh = p.h + p.top + p.bottom, ow = p.w + p.left + p.right;
#pragma omp parallel for schedule(static) if (planes * oh * ow > (1 << 15))
  for (int64_t c = 0; c < planes; ++c) {
    const float* g = dy + c * oh * ow;
    float* d = dx + c * p.h * p.w;
    for (int64_t i = 0; i < p.h; ++i)
      std::memcpy(d + i * p.w, g + (i + p.top) * ow + p.left, sizeof(float) * p.w);
    if (p.mode == 0) continue;
    // every padded cell adds its gradient to the input cell it copied
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t si = source(i - p.top, p.h, p.mode);
      const bool row_inside = i >= p.top && i < p.top + p.h;
      for (int64_t j = 0; j < ow; ++j) {
        if (row_inside && j >= p.left && j < p.left + p.w) continue;  // the interior
        d[si * p.w + source(j - p.left, p.w, p.mode)] += g[i * ow + j];
      }
    }
  }
}

}  // namespace fastnn
