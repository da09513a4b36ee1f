// Quantized tensors: quantization parameters, quantize / dequantize (plain and NCHW <-> NHWC),
// calibration statistics (min/max, histograms, KL-divergence thresholds) and int8 weights.
// Argument checks and threading live here; per-element arithmetic is in the kernel table's
// leaves (contracts: kernel_table.h, "Quantized tensors and layers"; docs/quantization.md).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"
#include "parallel_blocks.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

constexpr int64_t kBlock = 1 << 16;  // elements per parallel block of the elementwise ops

void check_count(int64_t n, const char* name) {
  if (n < 0) throw std::invalid_argument(std::string(name) + ": negative size");
}

// The one check of a tensor's qparams (the bindings only convert): ValueError naming the argument.
void check_qparams(QParamsU8 p) {
  if (!(std::isfinite(p.scale) && p.scale > 0.0f))
    throw std::invalid_argument("scale: must be finite and > 0, got " + std::to_string(p.scale));
  if (p.zero_point < 0 || p.zero_point > 255)
    throw std::invalid_argument("zero_point: must be in [0, 255], got " +
                                std::to_string(p.zero_point));
}

// Pixels per block of the NCHW <-> NHWC conversions: c x block bytes of scratch (~32 KiB, in L1).
int64_t pixel_block(int64_t c, int64_t hw) {
  return std::max<int64_t>(16, std::min<int64_t>(hw, (32 << 10) / std::max<int64_t>(c, 1)));
}

float inverse_scale(QParamsU8 p) {
  const double inv = 1.0 / static_cast<double>(p.scale);
  if (!(inv <= std::numeric_limits<float>::max()))
    throw std::invalid_argument("scale: 1 / scale overflows float32 (scale " +
                                std::to_string(p.scale) + ")");
  return static_cast<float>(inv);
}

// fn(img, p0, np, pb, tmp) for every block of np <= pb pixels from pixel p0 of image img of an
// n x c x hw tensor, in parallel; tmp: the thread's c x pb bytes of scratch (channel-major).
template <class Fn>
void for_pixel_blocks(int64_t n, int64_t c, int64_t hw, const Fn& fn) {
  const int64_t pb = pixel_block(c, hw);
  const int64_t nb = (hw + pb - 1) / pb;
  parallel_blocks(n * nb, 1, [&](int64_t b0, int64_t b1) {
    std::vector<uint8_t> tmp(static_cast<size_t>(c * pb));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t img = b / nb, p0 = (b % nb) * pb;
      fn(img, p0, std::min(pb, hw - p0), pb, tmp.data());
    }
  });
}

}  // namespace

QParamsU8 choose_qparams_u8(double lo, double hi) {
  if (!(std::isfinite(lo) && std::isfinite(hi)))
    throw std::invalid_argument("range: bounds must be finite, got [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  if (lo > hi)
    throw std::invalid_argument("range: lo > hi ([" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "])");
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  const double s = (hi - lo) / 255.0;
  if (!(s <= std::numeric_limits<float>::max()))
    throw std::invalid_argument("range: (hi - lo) / 255 overflows float32");
  QParamsU8 p;
  p.scale = std::max(static_cast<float>(s), kQuantMinScale);
  const double z = std::nearbyint(-lo / static_cast<double>(p.scale));
  p.zero_point = static_cast<int>(std::min(255.0, std::max(0.0, z)));
  return p;
}

void quantize_u8(const float* x, uint8_t* q, int64_t n, QParamsU8 p) {
  check_count(n, "x");
  check_qparams(p);
  const float inv = inverse_scale(p), zp = static_cast<float>(p.zero_point);
  const KernelTable& t = kernels();
  parallel_blocks(n, kBlock, [&](int64_t b, int64_t e) {
    t.f32_quantize_u8(x + b, q + b, e - b, inv, zp);
  });
}

void dequantize_u8(const uint8_t* q, float* x, int64_t n, QParamsU8 p) {
  check_count(n, "q");
  check_qparams(p);
  const float zp = static_cast<float>(p.zero_point);
  const KernelTable& t = kernels();
  parallel_blocks(n, kBlock, [&](int64_t b, int64_t e) {
    t.u8_dequantize_f32(q + b, x + b, e - b, p.scale, zp);
  });
}

// Per image: quantize into a channel-major scratch block of pixels, then transpose into NHWC.
// Pixel blocks keep the scratch in L1/L2 for any image size.
void quantize_u8_to_nhwc(const float* x, uint8_t* q, int64_t n, int64_t c, int64_t hw,
                         QParamsU8 p) {
  if (n < 0 || c < 0 || hw < 0) throw std::invalid_argument("x: negative shape");
  if (c == 1 || hw == 1) return quantize_u8(x, q, n * c * hw, p);  // same memory order
  check_qparams(p);
  const float inv = inverse_scale(p), zp = static_cast<float>(p.zero_point);
  const KernelTable& t = kernels();
  for_pixel_blocks(n, c, hw, [&](int64_t img, int64_t p0, int64_t np, int64_t pb, uint8_t* tmp) {
    for (int64_t ch = 0; ch < c; ++ch)
      t.f32_quantize_u8(x + (img * c + ch) * hw + p0, tmp + ch * pb, np, inv, zp);
    uint8_t* dst = q + (img * hw + p0) * c;
    for (int64_t i = 0; i < np; ++i)
      for (int64_t ch = 0; ch < c; ++ch) dst[i * c + ch] = tmp[ch * pb + i];
  });
}

void dequantize_u8_from_nhwc(const uint8_t* q, float* x, int64_t n, int64_t c, int64_t hw,
                             QParamsU8 p) {
  if (n < 0 || c < 0 || hw < 0) throw std::invalid_argument("q: negative shape");
  if (c == 1 || hw == 1) return dequantize_u8(q, x, n * c * hw, p);
  check_qparams(p);
  const float zp = static_cast<float>(p.zero_point);
  const KernelTable& t = kernels();
  for_pixel_blocks(n, c, hw, [&](int64_t img, int64_t p0, int64_t np, int64_t pb, uint8_t* tmp) {
    const uint8_t* src = q + (img * hw + p0) * c;
    for (int64_t i = 0; i < np; ++i)
      for (int64_t ch = 0; ch < c; ++ch) tmp[ch * pb + i] = src[i * c + ch];
    for (int64_t ch = 0; ch < c; ++ch)
      t.u8_dequantize_f32(tmp + ch * pb, x + (img * c + ch) * hw + p0, np, p.scale, zp);
  });
}

void minmax_f32(const float* x, int64_t n, float* lo, float* hi, const char* name) {
  if (n < 1) throw std::invalid_argument(std::string(name) + ": expected at least one value");
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::vector<float> los(static_cast<size_t>(nblocks)), his(static_cast<size_t>(nblocks));
  std::vector<int> nans(static_cast<size_t>(nblocks));
  const KernelTable& t = kernels();
  parallel_blocks(n, kBlock, [&](int64_t b, int64_t e) {
    const size_t i = static_cast<size_t>(b / kBlock);
    nans[i] = t.f32_minmax(x + b, e - b, &los[i], &his[i]);
  });
  float l = los[0], h = his[0];
  for (size_t i = 0; i < los.size(); ++i) {
    if (nans[i]) throw std::invalid_argument(std::string(name) + ": contains NaN");
    l = std::min(l, los[i]);
    h = std::max(h, his[i]);
  }
  *lo = l;
  *hi = h;
}

QParamsU8 quantize_u8_dynamic(const float* x, uint8_t* q, int64_t n) {
  float lo = 0.0f, hi = 0.0f;
  if (n > 0) minmax_f32(x, n, &lo, &hi, "x");
  if (!(std::isfinite(lo) && std::isfinite(hi)))
    throw std::invalid_argument("x: contains inf (no finite quantization range)");
  const QParamsU8 p = choose_qparams_u8(lo, hi);
  quantize_u8(x, q, n, p);
  return p;
}

// Per-thread histograms summed at the end: integer counts, so the result does not depend on the
// thread count or the schedule.
void histogram_f32(const float* x, int64_t n, double lo, double hi, int64_t bins, bool absval,
                   int64_t* hist) {
  check_count(n, "x");
  if (bins < 1) throw std::invalid_argument("bins: must be >= 1, got " + std::to_string(bins));
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo <= hi))
    throw std::invalid_argument("range: expected finite lo <= hi, got [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]");
  const double inv_d = hi > lo ? static_cast<double>(bins) / (hi - lo) : 0.0;
  const float inv = inv_d <= std::numeric_limits<float>::max() ? static_cast<float>(inv_d) : 0.0f;
  const float flo = static_cast<float>(lo);
  const KernelTable& t = kernels();
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  const int nthreads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), nblocks)));
  std::vector<std::vector<int64_t>> local(static_cast<size_t>(nthreads),
                                          std::vector<int64_t>(static_cast<size_t>(bins), 0));
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int64_t b = 0; b < nblocks; ++b) {
#ifdef _OPENMP
    std::vector<int64_t>& h = local[static_cast<size_t>(omp_get_thread_num())];
#else
    std::vector<int64_t>& h = local[0];
#endif
    const int64_t e = std::min(n, (b + 1) * kBlock);
    t.f32_histogram(x + b * kBlock, e - b * kBlock, flo, inv, bins, absval ? 1 : 0, h.data());
  }
  // Counts summed first (a bin already near 2**63 - 1 must not overflow), written once all fit.
  std::vector<int64_t> total(hist, hist + bins);
  for (const auto& h : local)
    for (int64_t i = 0; i < bins; ++i)
      if (__builtin_add_overflow(total[static_cast<size_t>(i)], h[static_cast<size_t>(i)],
                                 &total[static_cast<size_t>(i)]))
        throw std::invalid_argument("hist: bin " + std::to_string(i) + " holds " +
                                    std::to_string(hist[i]) + " counts; adding this batch's "
                                    "would pass 2**63 - 1");
  std::copy(total.begin(), total.end(), hist);
}

namespace {

// MXNet's _smooth_distribution: zeros get eps, the nonzeros give it back evenly. Returns false
// when every entry is zero.
bool smooth(std::vector<double>& d, double eps = 1e-4) {
  int64_t zeros = 0;
  for (double v : d) zeros += v == 0.0;
  const int64_t nonzeros = static_cast<int64_t>(d.size()) - zeros;
  if (nonzeros == 0) return false;
  const double eps1 = eps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (double& v : d) v = v == 0.0 ? eps : v - eps1;
  return true;
}

// KL(p || q) of two positive vectors, each normalised to sum 1 (scipy.stats.entropy(p, q)).
double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0.0, sq = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    sp += p[i];
    sq += q[i];
  }
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double a = p[i] / sp, b = q[i] / sq;
    if (a > 0.0) kl += a * std::log(a / b);
  }
  return kl;
}

}  // namespace

int64_t entropy_calibration_bins(const int64_t* hist, int64_t bins, int64_t nq) {
  if (nq < 2)
    throw std::invalid_argument("num_quantized_bins: must be >= 2, got " + std::to_string(nq));
  if (bins < nq)
    throw std::invalid_argument("hist: expected at least num_quantized_bins = " +
                                std::to_string(nq) + " bins, got " + std::to_string(bins));
  int64_t total = 0;
  for (int64_t b = 0; b < bins; ++b) {
    if (hist[b] < 0) throw std::invalid_argument("hist: negative count");
    // Every later sum (suffixes, merged bins) is a part of this one: checking it is enough.
    if (__builtin_add_overflow(total, hist[b], &total))
      throw std::invalid_argument("hist: the counts sum to more than 2**63 - 1 (int64 overflow at "
                                  "bin " + std::to_string(b) + ")");
  }
  if (total == 0) throw std::invalid_argument("hist: every count is zero");
  std::vector<int64_t> suffix(static_cast<size_t>(bins + 1), 0);  // outliers past bin i
  for (int64_t b = bins - 1; b >= 0; --b) suffix[b] = suffix[b + 1] + hist[b];
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = bins;
  std::vector<double> p, q;
  std::vector<int64_t> qbins(static_cast<size_t>(nq));
  for (int64_t i = nq; i <= bins; ++i) {
    p.assign(hist, hist + i);
    p[i - 1] += static_cast<double>(suffix[i]);
    const int64_t merged = i / nq;
    for (int64_t j = 0; j < nq; ++j) {
      int64_t s = 0;
      const int64_t stop = j == nq - 1 ? i : (j + 1) * merged;
      for (int64_t b = j * merged; b < stop; ++b) s += hist[b];
      qbins[j] = s;
    }
    q.assign(static_cast<size_t>(i), 0.0);
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t start = j * merged, stop = j == nq - 1 ? i : start + merged;
      int64_t norm = 0;
      for (int64_t b = start; b < stop; ++b) norm += p[b] != 0.0;
      if (norm == 0) continue;
      const double v = static_cast<double>(qbins[j]) / static_cast<double>(norm);
      for (int64_t b = start; b < stop; ++b)
        if (p[b] != 0.0) q[b] = v;
    }
    if (!smooth(p) || !smooth(q)) continue;  // all-zero Q: this threshold cannot be chosen
    const double kl = kl_divergence(p, q);
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return best_i;
}

void quantize_weights_s8(const float* w, int64_t n, int64_t k, bool per_channel, int8_t* q,
                         float* scales) {
  if (n < 0 || k < 0) throw std::invalid_argument("weight: negative shape");
  std::vector<float> amax(static_cast<size_t>(n), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    float m = 0.0f;
    bool finite = true;
    for (int64_t p = 0; p < k; ++p) {
      const float v = std::fabs(w[j * k + p]);
      finite &= v <= std::numeric_limits<float>::max();
      m = v > m ? v : m;
    }
    if (!finite)
      throw std::invalid_argument("weight: row " + std::to_string(j) + " contains NaN or inf");
    amax[j] = m;
  }
  if (!per_channel) {
    const float m = n ? *std::max_element(amax.begin(), amax.end()) : 0.0f;
    std::fill(amax.begin(), amax.end(), m);
  }
  for (int64_t j = 0; j < n; ++j) {
    // Floor at 1e-30: 1 / scale stays a finite float32 for subnormal weights.
    const float s = amax[j] > 0.0f ? std::max(amax[j] / 127.0f, 1e-30f) : 1.0f;
    const float inv = static_cast<float>(1.0 / static_cast<double>(s));
    scales[j] = s;
    for (int64_t p = 0; p < k; ++p) {
      float v = std::nearbyint(w[j * k + p] * inv);
      v = std::min(127.0f, std::max(-127.0f, v));
      q[j * k + p] = static_cast<int8_t>(v);
    }
  }
}

}  // namespace fastnn
