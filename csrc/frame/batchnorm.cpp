// Batch norm drivers over x (n, c, inner). OpenMP over channels; each channel's statistics pass and
// its normalising pass run back to back on the same thread so the channel's data (n * inner
// floats) is still in L2 for the second pass. Rows use the ISA leaves (kernels/simd/rows_body.h):
// float partial sums per row, added in double across rows. inner == 1 (BatchNorm1d on (n, c)) has
// no contiguous rows per channel and is vectorised across channels instead.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

void check_dims(const char* fn, int64_t n, int64_t c, int64_t inner) {
  if (n < 1 || c < 1 || inner < 1)
    throw std::invalid_argument(std::string(fn) + ": expected n, c, inner >= 1, got (" + str(n) +
                                ", " + str(c) + ", " + str(inner) + ")");
}

template <class F>
void parallel_channels(int64_t c, const F& body) {
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), c));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t ch = 0; ch < c; ++ch) body(ch);
}

// The channel's affine map y = a*x + b and the running-statistics update, from the batch moments.
struct ChannelStats {
  double mean, var;  // biased variance
};

void finish_train_channel(int64_t ch, const ChannelStats& st, double count, const float* gamma,
                          const float* beta, float eps, float momentum, float* running_mean,
                          float* running_var, float* save_mean, float* save_invstd, float* a,
                          float* b) {
  const float mean = static_cast<float>(st.mean);
  const float invstd = static_cast<float>(1.0 / std::sqrt(st.var + static_cast<double>(eps)));
  save_mean[ch] = mean;
  save_invstd[ch] = invstd;
  const float g = gamma ? gamma[ch] : 1.0f, be = beta ? beta[ch] : 0.0f;
  *a = g * invstd;
  *b = be - mean * *a;
  if (running_mean) {
    running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean;
    const double unbiased = st.var * count / (count - 1.0);
    running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * static_cast<float>(unbiased);
  }
}

}  // namespace

void batchnorm_forward_train(const float* x, int64_t n, int64_t c, int64_t inner,
                             const float* gamma, const float* beta, float eps, float momentum,
                             float* running_mean, float* running_var, float* y, float* save_mean,
                             float* save_invstd) {
  check_dims("batchnorm_forward_train", n, c, inner);
  const double count = static_cast<double>(n) * static_cast<double>(inner);
  if (count < 2.0)
    throw std::invalid_argument("batchnorm: expected more than 1 value per channel when training, "
                                "got input of " + str(n) + " x " + str(c) + " x " + str(inner));
  if ((running_mean == nullptr) != (running_var == nullptr))
    throw std::invalid_argument("batchnorm: running_mean and running_var go together");
  const KernelTable& t = kernels();
  if (inner == 1) {
    // (n, c): accumulate shifted moments row by row across channels (vectorisable over c).
    std::vector<double> s(c, 0.0), q(c, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = x + i * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const double d = static_cast<double>(row[ch]) - static_cast<double>(x[ch]);
        s[ch] += d;
        q[ch] += d * d;
      }
    }
    std::vector<float> a(c), b(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      const double ms = s[ch] / count;
      const ChannelStats st{static_cast<double>(x[ch]) + ms, std::max(0.0, q[ch] / count - ms * ms)};
      finish_train_channel(ch, st, count, gamma, beta, eps, momentum, running_mean, running_var,
                           save_mean, save_invstd, &a[ch], &b[ch]);
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch) y[i * c + ch] = a[ch] * x[i * c + ch] + b[ch];
    return;
  }
  parallel_channels(c, [&](int64_t ch) {
    // Moments shifted by the channel's first element: no cancellation when |mean| >> std.
    const float shift = x[ch * inner];
    double s = 0.0, q = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      float rs, rq;
      t.f32_row_moments(x + (i * c + ch) * inner, inner, shift, &rs, &rq);
      s += rs;
      q += rq;
    }
    const double ms = s / count;
    const ChannelStats st{static_cast<double>(shift) + ms, std::max(0.0, q / count - ms * ms)};
    float a, b;
    finish_train_channel(ch, st, count, gamma, beta, eps, momentum, running_mean, running_var,
                         save_mean, save_invstd, &a, &b);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * c + ch) * inner;
      t.f32_row_affine(x + off, y + off, inner, a, b);
    }
  });
}

void batchnorm_forward_eval(const float* x, int64_t n, int64_t c, int64_t inner,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, float* y, float* save_mean,
                            float* save_invstd) {
  check_dims("batchnorm_forward_eval", n, c, inner);
  if (!running_mean || !running_var)
    throw std::invalid_argument("batchnorm_forward_eval: running statistics are required");
  std::vector<float> a(c), b(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float invstd = 1.0f / std::sqrt(running_var[ch] + eps);
    save_mean[ch] = running_mean[ch];
    save_invstd[ch] = invstd;
    a[ch] = (gamma ? gamma[ch] : 1.0f) * invstd;
    b[ch] = (beta ? beta[ch] : 0.0f) - running_mean[ch] * a[ch];
  }
  const KernelTable& t = kernels();
  if (inner == 1) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch) y[i * c + ch] = a[ch] * x[i * c + ch] + b[ch];
    return;
  }
  parallel_channels(c, [&](int64_t ch) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * c + ch) * inner;
      t.f32_row_affine(x + off, y + off, inner, a[ch], b[ch]);
    }
  });
}

void batchnorm_backward(const float* dy, const float* x, int64_t n, int64_t c, int64_t inner,
                        const float* gamma, const float* mean, const float* invstd, bool training,
                        float* dx, float* dgamma, float* dbeta) {
  check_dims("batchnorm_backward", n, c, inner);
  const double count = static_cast<double>(n) * static_cast<double>(inner);
  const KernelTable& t = kernels();
  // Per channel: sdy = sum(dy), sdyx = sum(dy * (x - mean)); then
  //   dgamma += sdyx * invstd, dbeta += sdy,
  //   training: dx = k*dy - k*invstd^2*sdyx/count * (x - mean) - k*sdy/count,  k = gamma*invstd
  //   eval:     dx = k*dy
  auto finish = [&](int64_t ch, double sdy, double sdyx, float* a, float* b, float* cc) {
    if (dgamma) dgamma[ch] += static_cast<float>(sdyx * invstd[ch]);
    if (dbeta) dbeta[ch] += static_cast<float>(sdy);
    const double is = invstd[ch];
    const double k = (gamma ? gamma[ch] : 1.0) * is;
    *a = static_cast<float>(k);
    if (training) {
      const double bb = -k * is * is * sdyx / count;
      *b = static_cast<float>(bb);
      *cc = static_cast<float>(-k * sdy / count - bb * mean[ch]);
    } else {
      *b = *cc = 0.0f;
    }
  };
  const bool need_sums = training || dgamma || dbeta;
  if (inner == 1) {
    std::vector<double> s(c, 0.0), p(c, 0.0);
    if (need_sums)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t ch = 0; ch < c; ++ch) {
          const double g = dy[i * c + ch];
          s[ch] += g;
          p[ch] += g * (static_cast<double>(x[i * c + ch]) - mean[ch]);
        }
    std::vector<float> a(c), b(c), cc(c);
    for (int64_t ch = 0; ch < c; ++ch) finish(ch, s[ch], p[ch], &a[ch], &b[ch], &cc[ch]);
    if (dx) {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = i * c + ch;
          dx[o] = training ? a[ch] * dy[o] + (b[ch] * x[o] + cc[ch]) : a[ch] * dy[o];
        }
    }
    return;
  }
  parallel_channels(c, [&](int64_t ch) {
    double sdy = 0.0, sdyx = 0.0;
    if (need_sums)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * inner;
        float rs, rp;
        t.f32_row_dot2(dy + off, x + off, inner, mean[ch], &rs, &rp);
        sdy += rs;
        sdyx += rp;
      }
    float a, b, cc;
    finish(ch, sdy, sdyx, &a, &b, &cc);
    if (!dx) return;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * c + ch) * inner;
      if (training) t.f32_row_affine2(dy + off, x + off, dx + off, inner, a, b, cc);
      else t.f32_row_affine(dy + off, dx + off, inner, a, 0.0f);
    }
  });
}

}  // namespace fastnn
