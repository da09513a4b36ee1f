// Layer normalisation over the last `cols` values of each of `rows` rows (PyTorch's LayerNorm with
// normalized_shape flattened to cols):
//   mean = sum(x) / cols,  var = sum((x - mean)^2) / cols   (biased),  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * weight + bias                    (weight / bias null: 1 / 0)
// Statistics: two passes over the row, both accumulated in double, so a large common offset
// (1e4 + N(0, 1)) costs no digits to cancellation as sum(x^2) - mean^2 would; mean and rstd are
// kept in double for the backward (x - mean against one float mean would lose them there).
// Backward (xhat = (x - mean) * rstd, g = dy * weight):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dweight += sum over rows of dy * xhat,  dbias += sum over rows of dy.
// The elementwise work is float, x - mean taken against the mean split into a float pair (see
// RowStats); the row sums are double. dweight / dbias are reduced deterministically: the rows are
// cut into blocks whose size depends on rows alone (never on the thread count); each block sums
// its rows in order (float over 16 rows at a time, then into its own double partial), and the
// partials are added in block order. OpenMP over rows (forward, dx) and over blocks (the
// parameter sums).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

constexpr int64_t kMaxBlocks = 256;  // parameter-gradient partials: at most this many

// sum of f(j), j < n, in double with four running sums (a fixed order, so the same bits every
// run; four chains instead of one add latency per term).
template <class F>
double sum4(int64_t n, const F& f) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    a0 += f(j);
    a1 += f(j + 1);
    a2 += f(j + 2);
    a3 += f(j + 3);
  }
  for (; j < n; ++j) a0 += f(j);
  return (a0 + a1) + (a2 + a3);
}

// A row's statistics for float arithmetic: the double mean as a float pair hi + lo, so that
// (x - hi) - lo keeps the digits of x - mean even for rows far from zero (x - hi is exact where
// x is within a factor 2 of the mean, Sterbenz), and rstd as a float.
struct RowStats {
  float hi, lo, rs;
  RowStats(double mean, double rstd)
      : hi(static_cast<float>(mean)), lo(static_cast<float>(mean - static_cast<float>(mean))),
        rs(static_cast<float>(rstd)) {}
  float xhat(float x) const { return ((x - hi) - lo) * rs; }
};

constexpr int64_t kFlushRows = 16;  // float sums of at most this many rows, then into double

int threads_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
}

}  // namespace

void layernorm_check(int64_t rows, int64_t cols, float eps) {
  if (rows < 0 || cols < 1)
    throw std::invalid_argument("layer_norm: expected rows >= 0 and normalized size >= 1, got (" +
                                std::to_string(rows) + ", " + std::to_string(cols) + ")");
  if (!(eps >= 0.0f) || !std::isfinite(eps))
    throw std::invalid_argument("eps: expected a finite number >= 0, got " + std::to_string(eps));
}

void layernorm_forward(const float* x, const float* weight, const float* bias, int64_t rows,
                       int64_t cols, float eps, float* y, double* mean, double* rstd) {
  layernorm_check(rows, cols, eps);
#pragma omp parallel for schedule(static) num_threads(threads_for(rows))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double m = sum4(cols, [&](int64_t j) { return static_cast<double>(xr[j]); }) /
                     static_cast<double>(cols);
    const double v = sum4(cols, [&](int64_t j) {
      const double d = xr[j] - m;
      return d * d;
    });
    const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + static_cast<double>(eps));
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
    const RowStats st(m, rs);
    for (int64_t j = 0; j < cols; ++j) {
      const float h = st.xhat(xr[j]);
      yr[j] = (weight ? h * weight[j] : h) + (bias ? bias[j] : 0.0f);
    }
  }
}

void layernorm_backward(const float* dy, const float* x, const double* mean, const double* rstd,
                        const float* weight, int64_t rows, int64_t cols, float* dx,
                        float* dweight, float* dbias) {
  layernorm_check(rows, cols, 0.0f);
  if (dx) {
#pragma omp parallel for schedule(static) num_threads(threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
      const float *xr = x + r * cols, *dyr = dy + r * cols;
      const RowStats st(mean[r], rstd[r]);
      auto grad = [&](int64_t j) { return weight ? dyr[j] * weight[j] : dyr[j]; };
      const double sg = sum4(cols, [&](int64_t j) { return static_cast<double>(grad(j)); });
      const double sgh =
          sum4(cols, [&](int64_t j) { return static_cast<double>(grad(j) * st.xhat(xr[j])); });
      const float mg = static_cast<float>(sg / static_cast<double>(cols));
      const float mgh = static_cast<float>(sgh / static_cast<double>(cols));
      float* dxr = dx + r * cols;
      for (int64_t j = 0; j < cols; ++j)
        dxr[j] = st.rs * ((grad(j) - mg) - st.xhat(xr[j]) * mgh);
    }
  }
  if ((!dweight && !dbias) || rows == 0) return;
  const int64_t per = std::max<int64_t>(1, (rows + kMaxBlocks - 1) / kMaxBlocks);
  const int64_t blocks = (rows + per - 1) / per;
  // partial[b] holds (dweight cols, dbias cols) of block b
  std::vector<double> partial(static_cast<size_t>(blocks * 2 * cols), 0.0);
#pragma omp parallel for schedule(static) num_threads(threads_for(blocks))
  for (int64_t b = 0; b < blocks; ++b) {
    double* pw = partial.data() + b * 2 * cols;
    double* pb = pw + cols;
    std::vector<float> acc(static_cast<size_t>(2 * cols), 0.0f);  // float sums of <= 16 rows
    float *aw = acc.data(), *ab = aw + cols;
    const int64_t r0 = b * per, r1 = std::min(rows, (b + 1) * per);
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * cols, *dyr = dy + r * cols;
      const RowStats st(mean[r], rstd[r]);
      for (int64_t j = 0; j < cols; ++j) {
        aw[j] += dyr[j] * st.xhat(xr[j]);
        ab[j] += dyr[j];
      }
      if ((r - r0) % kFlushRows == kFlushRows - 1 || r == r1 - 1) {
        for (int64_t j = 0; j < cols; ++j) {
          pw[j] += aw[j];
          pb[j] += ab[j];
          aw[j] = ab[j] = 0.0f;
        }
      }
    }
  }
  // Block order, block by block (sequential reads of the partials).
  std::vector<double> sum(static_cast<size_t>(2 * cols), 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t j = 0; j < 2 * cols; ++j) sum[j] += partial[b * 2 * cols + j];
  for (int64_t j = 0; j < cols; ++j) {
    if (dweight) dweight[j] += static_cast<float>(sum[j]);
    if (dbias) dbias[j] += static_cast<float>(sum[cols + j]);
  }
}

}  // namespace fastnn
