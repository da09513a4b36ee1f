// Batch norm drivers over x (n, c, inner). OpenMP over channels; each channel's statistics pass and
// its normalising pass run back to back on the same thread so the channel's data (n * inner
// floats) is still in L2 for the second pass. Rows use the ISA leaves (kernels/simd/rows_body.h):
// float partial sums per row, added in double across rows. inner == 1 (BatchNorm1d on (n, c)) has
// no contiguous rows per channel: the column leaves vectorise across channels instead, the
// reductions threaded over blocks of channels (float sums per chunk of kColRows rows, added in
// double), the affine passes over blocks of rows.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// n or inner may be 0 (an empty batch): eval and backward then have nothing to do, training
// refuses it (fewer than 2 values per channel).
void check_dims(const char* fn, int64_t n, int64_t c, int64_t inner) {
  if (n < 0 || c < 1 || inner < 0)
    throw std::invalid_argument(std::string(fn) + ": expected n, inner >= 0 and c >= 1, got (" +
                                str(n) + ", " + str(c) + ", " + str(inner) + ")");
}

void check_running(const float* running_mean, const float* running_var) {
  if ((running_mean == nullptr) != (running_var == nullptr))
    throw std::invalid_argument("running_mean and running_var must both be given or both be None");
}

void check_eps(float eps) {
  if (!(eps > 0.0f)) throw std::invalid_argument("eps: expected > 0, got " + std::to_string(eps));
}

template <class F>
void parallel_channels(int64_t c, const F& body) {
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), c));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t ch = 0; ch < c; ++ch) body(ch);
}

// (n, c) layout. kColRows rows per float partial sum; kColBlock channels per reduction task;
// kAffineElems elements per affine task (below one such task the pass runs on one thread).
constexpr int64_t kColRows = 128, kColBlock = 64, kAffineElems = 16384;

// Column reductions of (n, c) into double sums per channel: reduce(rows_ptr_offset, rows, c0,
// cols, out1, out2) writes float sums of one chunk, added here in double.
template <class Reduce>
void column_sums(int64_t n, int64_t c, const Reduce& reduce, std::vector<double>& s1,
                 std::vector<double>& s2) {
  s1.assign(c, 0.0);
  s2.assign(c, 0.0);
  const int64_t blocks = (c + kColBlock - 1) / kColBlock;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), blocks));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t bk = 0; bk < blocks; ++bk) {
    const int64_t c0 = bk * kColBlock, cols = std::min(kColBlock, c - c0);
    float f1[kColBlock], f2[kColBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kColRows) {
      reduce(i0, std::min(kColRows, n - i0), c0, cols, f1, f2);
      for (int64_t j = 0; j < cols; ++j) {
        s1[c0 + j] += f1[j];
        s2[c0 + j] += f2[j];
      }
    }
  }
}

// An affine pass over (n, c), threaded over blocks of rows: pass(i0, rows).
template <class Pass>
void column_rows(int64_t n, int64_t c, const Pass& pass) {
  const int64_t per = std::max<int64_t>(1, kAffineElems / c);
  const int64_t tasks = (n + per - 1) / per;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), tasks));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t k = 0; k < tasks; ++k) pass(k * per, std::min(per, n - k * per));
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
                             float* save_invstd, Epilogue act) {
  check_dims("batchnorm_forward_train", n, c, inner);
  if (static_cast<int>(act.act) < static_cast<int>(Act::none) ||
      static_cast<int>(act.act) > static_cast<int>(Act::tanh))
    throw std::invalid_argument("batchnorm: unknown fused activation code " +
                                str(static_cast<int>(act.act)));
  const bool fused = act.act != Act::none;
  check_running(running_mean, running_var);
  check_eps(eps);
  const double count = static_cast<double>(n) * static_cast<double>(inner);
  if (count < 2.0)
    throw std::invalid_argument("input: expected more than 1 value per channel when training, got " +
                                str(n * inner) + " (batch " + str(n) + " x " + str(inner) +
                                " per sample, " + str(c) + " channels)");
  const KernelTable& t = kernels();
  if (inner == 1) {
    // Moments shifted by the first row: no cancellation when |mean| >> std.
    std::vector<double> sum, sq;
    column_sums(n, c, [&](int64_t i0, int64_t rows, int64_t c0, int64_t cols, float* f1,
                          float* f2) {
      t.f32_col_moments(x + i0 * c + c0, rows, c, cols, x + c0, f1, f2);
    }, sum, sq);
    std::vector<float> a(c), b(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      const double ms = sum[ch] / count;
      const ChannelStats st{static_cast<double>(x[ch]) + ms, std::max(0.0, sq[ch] / count - ms * ms)};
      finish_train_channel(ch, st, count, gamma, beta, eps, momentum, running_mean, running_var,
                           save_mean, save_invstd, &a[ch], &b[ch]);
    }
    column_rows(n, c, [&](int64_t i0, int64_t rows) {
      t.f32_col_affine(x + i0 * c, y + i0 * c, rows, c, c, a.data(), b.data());
      if (fused) t.f32_act(y + i0 * c, y + i0 * c, rows * c, act);  // the block, still in cache
    });
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
      if (fused) t.f32_act(y + off, y + off, inner, act);  // the row, still in cache
    }
  });
}

void batchnorm_forward_eval(const float* x, int64_t n, int64_t c, int64_t inner,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, float eps, float* y, float* save_mean,
                            float* save_invstd) {
  check_dims("batchnorm_forward_eval", n, c, inner);
  check_running(running_mean, running_var);
  if (!running_mean)
    throw std::invalid_argument("batchnorm: eval mode needs running statistics (running_mean and "
                                "running_var)");
  check_eps(eps);
  std::vector<float> a(c), b(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float invstd = 1.0f / std::sqrt(running_var[ch] + eps);
    if (save_mean) save_mean[ch] = running_mean[ch];
    if (save_invstd) save_invstd[ch] = invstd;
    a[ch] = (gamma ? gamma[ch] : 1.0f) * invstd;
    b[ch] = (beta ? beta[ch] : 0.0f) - running_mean[ch] * a[ch];
  }
  const KernelTable& t = kernels();
  if (n == 0 || inner == 0) return;
  if (inner == 1) {
    column_rows(n, c, [&](int64_t i0, int64_t rows) {
      t.f32_col_affine(x + i0 * c, y + i0 * c, rows, c, c, a.data(), b.data());
    });
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
      column_sums(n, c, [&](int64_t i0, int64_t rows, int64_t c0, int64_t cols, float* f1,
                            float* f2) {
        t.f32_col_dot2(dy + i0 * c + c0, x + i0 * c + c0, rows, c, cols, mean + c0, f1, f2);
      }, s, p);
    std::vector<float> a(c), b(c), cc(c);
    for (int64_t ch = 0; ch < c; ++ch) finish(ch, s[ch], p[ch], &a[ch], &b[ch], &cc[ch]);
    if (dx)
      column_rows(n, c, [&](int64_t i0, int64_t rows) {
        const int64_t o = i0 * c;
        if (training)
          t.f32_col_affine2(dy + o, x + o, dx + o, rows, c, c, a.data(), b.data(), cc.data());
        else  // dx = a*dy (b holds zeros): x is not read, as in the (n, c, inner) path
          t.f32_col_affine(dy + o, dx + o, rows, c, c, a.data(), b.data());
      });
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
