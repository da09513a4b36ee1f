// Local response normalisation across channels over x (n, c, inner):
//   scale[i] = k + alpha / size * sum_{j = i - before .. i + after} x[j]^2   (zero outside 0..c-1)
//   y[i]     = x[i] * scale[i]^-beta,                 after = size - 1 - before.
// PyTorch's LocalResponseNorm centres the window with before = size / 2; ONNX's LRN with
// before = (size - 1) / 2 (the two agree for odd sizes).
// Backward (s = scale):
//   dx[j] = dy[j] * s[j]^-beta
//           - 2 alpha beta / size * x[j] * sum_{i : j in window(i)} dy[i] x[i] s[i]^(-beta-1)
// where j in window(i) <=> i in j - after .. j + before.
// OpenMP over (image, block of positions); each window sum is taken afresh (size terms, no running
// sum whose cancellation could drive the scale below k). Plain loops over a block of contiguous
// positions, which the compiler vectorises except for the pow.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

constexpr int64_t kBlock = 64;  // positions per task: one window sum buffer on the stack

template <class F>
void parallel_tasks(int64_t count, const F& body) {
  const int nt =
      static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t t = 0; t < count; ++t) body(t);
}

}  // namespace

void lrn_check(int64_t n, int64_t c, int64_t inner, int64_t size, int64_t before, float alpha,
               float beta, float k) {
  if (n < 0 || c < 0 || inner < 0)
    throw std::invalid_argument("lrn: expected n, c, inner >= 0, got (" + std::to_string(n) +
                                ", " + std::to_string(c) + ", " + std::to_string(inner) + ")");
  if (size < 1 || size > (int64_t{1} << 31))
    throw std::invalid_argument("size: expected 1 <= size <= 2**31, got " + std::to_string(size));
  if (before < 0 || before >= size)
    throw std::invalid_argument("before: expected 0 <= before < size (" + std::to_string(size) +
                                "), got " + std::to_string(before));
  if (!std::isfinite(alpha))
    throw std::invalid_argument("alpha: expected a finite number, got " + std::to_string(alpha));
  if (!std::isfinite(beta))
    throw std::invalid_argument("beta: expected a finite number, got " + std::to_string(beta));
  if (!std::isfinite(k))
    throw std::invalid_argument("k: expected a finite number, got " + std::to_string(k));
}

void lrn_forward(const float* x, int64_t n, int64_t c, int64_t inner, int64_t size, int64_t before,
                 float alpha, float beta, float k, float* y, float* scale) {
  lrn_check(n, c, inner, size, before, alpha, beta, k);
  if (n == 0 || c == 0 || inner == 0) return;
  const int64_t after = size - 1 - before;
  const float a = alpha / static_cast<float>(size);
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_tasks(n * blocks, [&](int64_t task) {
    const int64_t img = task / blocks, p0 = (task % blocks) * kBlock;
    const int64_t len = std::min(kBlock, inner - p0);
    const float* xi = x + img * c * inner + p0;
    float* yi = y + img * c * inner + p0;
    float* si = scale ? scale + img * c * inner + p0 : nullptr;
    float acc[kBlock];
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t p = 0; p < len; ++p) acc[p] = 0.0f;
      const int64_t lo = std::max<int64_t>(0, ch - before);
      const int64_t hi = std::min<int64_t>(c - 1, ch + after);
      for (int64_t j = lo; j <= hi; ++j) {
        const float* xj = xi + j * inner;
        for (int64_t p = 0; p < len; ++p) acc[p] += xj[p] * xj[p];
      }
      const float* xc = xi + ch * inner;
      float* yc = yi + ch * inner;
      for (int64_t p = 0; p < len; ++p) {
        const float s = k + a * acc[p];
        if (si) si[ch * inner + p] = s;
        yc[p] = xc[p] * std::pow(s, -beta);
      }
    }
  });
}

void lrn_backward(const float* dy, const float* x, const float* scale, int64_t n, int64_t c,
                  int64_t inner, int64_t size, int64_t before, float alpha, float beta, float k,
                  float* dx) {
  lrn_check(n, c, inner, size, before, alpha, beta, k);
  if (n == 0 || c == 0 || inner == 0) return;
  const int64_t after = size - 1 - before;
  const float coef = 2.0f * alpha * beta / static_cast<float>(size);
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_tasks(n * blocks, [&](int64_t task) {
    const int64_t img = task / blocks, p0 = (task % blocks) * kBlock;
    const int64_t len = std::min(kBlock, inner - p0);
    const int64_t off = img * c * inner + p0;
    const float *xi = x + off, *dyi = dy + off, *si = scale + off;
    float* dxi = dx + off;
    // t[i] = dy[i] x[i] s[i]^(-beta-1) for the block's channels, then each dx from a window of t.
    std::vector<float> t(static_cast<size_t>(c * len));
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t o = ch * inner;
      for (int64_t p = 0; p < len; ++p)
        t[ch * len + p] = dyi[o + p] * xi[o + p] * std::pow(si[o + p], -beta - 1.0f);
    }
    float acc[kBlock];
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t p = 0; p < len; ++p) acc[p] = 0.0f;
      const int64_t lo = std::max<int64_t>(0, ch - after);
      const int64_t hi = std::min<int64_t>(c - 1, ch + before);
      for (int64_t i = lo; i <= hi; ++i)
        for (int64_t p = 0; p < len; ++p) acc[p] += t[i * len + p];
      const int64_t o = ch * inner;
      for (int64_t p = 0; p < len; ++p)
        dxi[o + p] = dyi[o + p] * std::pow(si[o + p], -beta) - coef * xi[o + p] * acc[p];
    }
  });
}

}  // namespace fastnn
