// Portable reference leaves of the elementwise layer kernels (contracts: kernel_table.h): plain
// scalar C++ on libm. They are the generic path and the reference the SIMD leaves
// (csrc/kernels/simd/elementwise_body.h) are tested against. f32_act itself lives with the GEMM
// epilogue in gemm_ukr.cpp (act.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "act.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

namespace {
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.3989422804014326779399460599343;

// In double: erfc's argument x / sqrt2 rounded to float would cost ~x^2/2 ulp in the far tail.
double phi(float x) { return 0.5 * std::erfc(-double(x) * kInvSqrt2); }

uint32_t lowbias32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}
}  // namespace

void f32_act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      const Epilogue& ep) {
  const float* br = x ? x : y;
  const float p = ep.param;
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];
    switch (ep.act) {
      case Act::none: dx[i] = g; break;
      case Act::relu: dx[i] = br[i] > 0.0f ? g : 0.0f; break;
      case Act::leaky_relu: dx[i] = br[i] > 0.0f ? g : g * p; break;
      case Act::elu: dx[i] = br[i] > 0.0f ? g : g * (y[i] + p); break;
      case Act::sigmoid: dx[i] = g * (y[i] * (1.0f - y[i])); break;
      case Act::tanh: dx[i] = g * (1.0f - y[i] * y[i]); break;
    }
  }
}

void f32_selu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] > 0.0f ? kSeluScale * x[i] : kSeluScale * kSeluAlpha * std::expm1(x[i]);
}

void f32_selu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * (y[i] > 0.0f ? kSeluScale : y[i] + kSeluScale * kSeluAlpha);
}

// The functions of the shared vector math, on libm (in double where float would lose accuracy).
void f32_vmath(int fn, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    double r = 0.0;
    switch (fn) {
      case 0: r = std::exp(v); break;
      case 1: r = std::isnan(v) ? v : std::expm1(std::fmin(v, 0.0)); break;  // fmin drops NaN
      case 2: r = std::tanh(v); break;
      case 3: r = 1.0 / (1.0 + std::exp(-v)); break;
      case 4:
      case 5: r = 0.5 * std::erfc(std::fabs(v) * kInvSqrt2); break;
      case 6: r = std::exp(-0.5 * v * v); break;
      default: break;
    }
    y[i] = static_cast<float>(r);
  }
}

void f32_gelu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * phi(x[i]));
}

void f32_gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    dx[i] = static_cast<float>(dy[i] * (phi(x[i]) + v * kInvSqrt2Pi * std::exp(-0.5 * v * v)));
  }
}

// The row's maximum (NaN ignored unless every element is NaN), the shift of the softmaxes.
static float row_max(const float* xr, int64_t cols) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < cols; ++j) mx = std::fmax(mx, xr[j]);
  return mx;
}

void f32_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float mx = row_max(xr, cols);
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      yr[j] = std::exp(xr[j] - mx);
      s += yr[j];
    }
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

void f32_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                               int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    double dot = 0.0;
    for (int64_t j = 0; j < cols; ++j) dot += double(yr[j]) * gr[j];
    const float d = static_cast<float>(dot);
    for (int64_t j = 0; j < cols; ++j) dx[r * cols + j] = yr[j] * (gr[j] - d);
  }
}

void f32_log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float mx = row_max(xr, cols);
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(double(xr[j]) - mx);
    const float ls = static_cast<float>(std::log(s));
    for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - ls;
  }
}

void f32_log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                                   int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = dy + r * cols;
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) sum += gr[j];
    const float s = static_cast<float>(sum);
    for (int64_t j = 0; j < cols; ++j)
      dx[r * cols + j] = gr[j] - std::exp(y[r * cols + j]) * s;
  }
}

// Unary codes >= 8 of params.h (constants: params.h ActParams); in double where float would lose
// accuracy. NaN handling as the SIMD bodies (elementwise_body.h).
namespace {
#define FASTNN_ACT_CODE_(name, value, label) constexpr int k_##name = value;
FASTNN_UNARY_LIST(FASTNN_ACT_CODE_)
#undef FASTNN_ACT_CODE_

float clamp_nan(float v, float lo, float hi) {
  return std::isnan(v) ? v : std::min(hi, std::max(lo, v));
}
}  // namespace

void f32_act_ext(int op, const float* x, float* y, int64_t n, const ActParams& p) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    switch (op) {
      case k_hardtanh: y[i] = clamp_nan(v, p.lo, p.hi); break;
      case k_hardsigmoid: y[i] = clamp_nan(std::fma(v, p.a, p.b), 0.0f, 1.0f); break;
      case k_hardswish: y[i] = v * clamp_nan(v + 3.0f, 0.0f, 6.0f) / 6.0f; break;
      case k_softplus: {
        const float bxf = v * p.a;  // rounded as the SIMD leaves (and PyTorch) round it
        const double bx = bxf, sp = std::fmax(bx, 0.0) + std::log1p(std::exp(-std::fabs(bx)));
        y[i] = std::isnan(v) || bxf > p.b ? v : static_cast<float>(sp / p.a);
        break;
      }
      case k_softsign: y[i] = v / (1.0f + std::fabs(v)); break;
      case k_mish: {  // x tanh(softplus(x)), the softplus written without overflow
        const double xd = v, sp = std::fmax(xd, 0.0) + std::log1p(std::exp(-std::fabs(xd)));
        y[i] = static_cast<float>(xd * std::tanh(sp));
        break;
      }
      default: break;
    }
  }
}

void f32_act_ext_backward(int op, const float* x, const float* dy, float* dx, int64_t n,
                          const ActParams& p) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], g = dy[i];
    switch (op) {
      case k_hardtanh: dx[i] = (v <= p.lo || v >= p.hi) ? 0.0f : g; break;
      case k_hardsigmoid: dx[i] = (v > p.lo && v < p.hi) ? g * p.a : 0.0f; break;
      case k_hardswish: dx[i] = v <= -3.0f ? 0.0f : (v < 3.0f ? g * (v / 3.0f + 0.5f) : g); break;
      case k_softplus: {
        const float bx = v * p.a;
        dx[i] = bx > p.b ? g : static_cast<float>(g / (1.0 + std::exp(-double(bx))));
        break;
      }
      case k_softsign: {
        const double d = 1.0 + std::fabs(double(v));
        dx[i] = static_cast<float>(g / (d * d));
        break;
      }
      case k_mish: {  // tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2)
        const double xd = v, sp = std::fmax(xd, 0.0) + std::log1p(std::exp(-std::fabs(xd)));
        const double t = std::tanh(sp), sig = 1.0 / (1.0 + std::exp(-xd));
        dx[i] = static_cast<float>(g * (t + xd * sig * (1.0 - t * t)));
        break;
      }
      default: break;
    }
  }
}

void f32_prelu_run(const float* x, float* y, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void f32_prelu_run_backward(const float* x, const float* dy, float* dx, int64_t n, float slope,
                            float* dslope) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const bool pos = x[i] > 0.0f;
    dx[i] = pos ? dy[i] : slope * dy[i];
    if (!pos) acc += double(x[i]) * dy[i];
  }
  *dslope = static_cast<float>(acc);
}

void f32_prelu_rows(const float* x, float* y, int64_t rows, int64_t cols, const float* slope) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const float v = x[r * cols + j];
      y[r * cols + j] = v > 0.0f ? v : slope[j] * v;
    }
}

void f32_prelu_rows_backward(const float* x, const float* dy, float* dx, int64_t rows,
                             int64_t cols, const float* slope, float* dslope) {
  for (int64_t j = 0; j < cols; ++j) {
    double acc = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = r * cols + j;
      const bool pos = x[o] > 0.0f;
      dx[o] = pos ? dy[o] : slope[j] * dy[o];
      if (!pos) acc += double(x[o]) * dy[o];
    }
    dslope[j] += static_cast<float>(acc);
  }
}

void f32_colsum_acc(const float* x, int64_t rows, int64_t cols, int64_t ld, float* ycol) {
  for (int64_t j = 0; j < cols; ++j) {
    float acc = 0.0f;
    for (int64_t i = 0; i < rows; ++i) acc += x[i * ld + j];
    ycol[j] += acc;
  }
}

void f32_dropout(const float* x, float* y, int64_t n, uint64_t key, int64_t offset,
                 uint32_t threshold, float scale) {
  const uint64_t off = static_cast<uint64_t>(offset);
  const uint32_t k0 = static_cast<uint32_t>(key);
  const uint32_t hi = static_cast<uint32_t>(off >> 32);
  const uint32_t k1 = static_cast<uint32_t>(key >> 32) ^ (hi * 0x9E3779B9u);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t lo = static_cast<uint32_t>(off) + static_cast<uint32_t>(i);
    const uint32_t h = lowbias32(lowbias32(lo + k0) ^ k1);
    const float m = (h >> 8) >= threshold ? scale : 0.0f;
    y[i] = x ? x[i] * m : m;
  }
}

}  // namespace ref
}  // namespace fastnn
