// 2-D convolution drivers (NCHW): checks, im2col, GEMM orientation, threading.
//
// Orientation: per image and group, Y (kg x oh*ow) = W (kg x K) @ col (K x oh*ow), K = cg*kh*kw.
// Y is then already the image's NCHW output block, so no transpose pass is needed; the im2col
// matrix is never materialised in the forward: sgemm_driver asks for B panels and Im2col::pack_b
// builds them straight from the image. W is packed into A panels once per call.
// Backward per image and group:
//   dW (kg x K) += dY (kg x P) @ col^T        (col materialised per image in a thread buffer, L2)
//   dcol (K x P) = W^T @ dY, then col2im adds dcol into dX
// 1x1 / stride 1 / no padding: col is the image itself (no im2col, no col2im).
// Depthwise (groups == c): direct per-plane leaves (kernels/simd/dwconv_body.h).
// Threads: over images when the batch covers the threads (each GEMM then runs single-threaded
// inside its inactive nested region), otherwise images in turn with the GEMM's own threading.
// dW/db go to per-thread buffers summed in thread order at the end (deterministic for a given
// thread count).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"
#include "gemm_driver.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string pair(int64_t a, int64_t b) { return "(" + str(a) + ", " + str(b) + ")"; }

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// How many threads run images side by side: all of them when the batch keeps every thread busy,
// else 1 (images one after another, each GEMM threaded inside). Decided once per call so that
// per-thread buffers and the loop agree even if the thread count changes meanwhile.
int image_slots(int64_t n) {
  const int nt = get_num_threads();
  return (nt > 1 && (n >= 2 * nt || (n >= nt && n % nt == 0))) ? nt : 1;
}

// body(image, slot) for every image; slot < slots indexes per-thread buffers.
template <class F>
void for_each_image(int64_t n, int slots, const F& body) {
  if (slots <= 1) {
    for (int64_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(slots)
  for (int64_t i = 0; i < n; ++i) body(i, thread_id());
}

// A (rows x cols) operand packed once into the driver's A-panel layout over the whole inner
// dimension: panel q holds rows [q*mr, q*mr + mr) as cols steps of mr floats. The driver's blocks
// start at multiples of mr, so a block is a memcpy per panel.
struct PackedA {
  aligned_ptr<float> buf;
  MatView src;
  int mr = 0;

  PackedA(const MatView& a, int mr_) : src(a), mr(mr_) {
    const int64_t panels = (a.rows + mr - 1) / mr;
    buf = aligned_alloc_array<float>(static_cast<size_t>(panels * a.cols * mr));
    if (a.rows > 0 && a.cols > 0) pack_a_f32(a, 0, 0, a.rows, a.cols, mr, buf.get());
  }
  void operator()(int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) const {
    if (i0 % mr != 0) {  // not a block layout this packing serves: pack from the source
      pack_a_f32(src, i0, p0, mc, kc, mr, dst);
      return;
    }
    for (int64_t ir = 0; ir < mc; ir += mr)
      std::memcpy(dst + (ir / mr) * kc * mr, buf.get() + ((i0 + ir) / mr) * src.cols * mr + p0 * mr,
                  sizeof(float) * kc * mr);
  }
};

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

// The im2col matrix of one image and group: row p = (channel p / (kh*kw), ki, kj), column
// j = output pixel (j / ow, j % ow), value x[channel][oy*sh - ph + ki*dh][ox*sw - pw + kj*dw].
struct Im2col {
  const float* x;  // first channel of the group in this image
  const Conv2dGeom& g;

  const float* input_row(int64_t p, int64_t oy, int64_t* ix0) const {
    const int64_t taps = g.kh * g.kw;
    const int64_t ch = p / taps, r = p % taps, ki = r / g.kw, kj = r % g.kw;
    const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
    *ix0 = -g.pw + kj * g.dw;
    if (iy < 0 || iy >= g.h) return nullptr;
    return x + (ch * g.h + iy) * g.w;
  }

  // The driver's B block: rows [p0, p0+kc), columns [j0, j0+nc), in nr-column panels.
  void pack_b(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst) const {
    struct Seg { int64_t oy, ox, len, at; };
    Seg segs[130];  // a panel of nr <= 128 columns spans at most nr + 1 output rows
    for (int64_t jr = 0; jr < nc; jr += nr) {
      const int64_t nn = std::min<int64_t>(nr, nc - jr);
      float* panel = dst + (jr / nr) * kc * nr;
      int nseg = 0;
      for (int64_t t = 0; t < nn;) {
        const int64_t j = j0 + jr + t, oy = j / g.ow, ox = j % g.ow;
        const int64_t len = std::min(nn - t, g.ow - ox);
        segs[nseg++] = {oy, ox, len, t};
        t += len;
      }
      for (int64_t p = 0; p < kc; ++p) {
        float* d = panel + p * nr;
        for (int s = 0; s < nseg; ++s) {
          int64_t ix0;
          const float* row = input_row(p0 + p, segs[s].oy, &ix0);
          gather_row(row, ix0 + segs[s].ox * g.sw, g.sw, g.w, segs[s].len, d + segs[s].at);
        }
        std::fill(d + nn, d + nr, 0.0f);
      }
    }
  }

  // The whole K x (oh*ow) matrix, row-major.
  void materialise(float* col) const {
    const int64_t K = g.kdim(), P = g.out_plane();
    for (int64_t p = 0; p < K; ++p)
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        int64_t ix0;
        const float* row = input_row(p, oy, &ix0);
        gather_row(row, ix0, g.sw, g.w, g.ow, col + p * P + oy * g.ow);
      }
  }
};

// dx (the group's cg input planes of one image) += col2im(dcol).
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

// Sum of a row, in double across the float partial sums of the row leaf.
double row_sum(const float* x, int64_t n) {
  float s, q;
  kernels().f32_row_moments(x, n, 0.0f, &s, &q);
  return s;
}

void depthwise_forward(const float* x, const float* w, const float* bias, float* y,
                       const Conv2dGeom& g) {
  const auto fn = kernels().f32_dwconv2d_plane;
  const int64_t mult = g.kg(), in = g.in_plane(), out = g.out_plane(), taps = g.kh * g.kw;
  const int64_t planes = g.n * g.k;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(planes, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t i = q / g.k, o = q % g.k;
    fn(x + (i * g.c + o / mult) * in, w + o * taps, bias ? bias[o] : 0.0f, y + q * out, g);
  }
}

void depthwise_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                        const Conv2dGeom& g) {
  const KernelTable& t = kernels();
  const int64_t mult = g.kg(), in = g.in_plane(), out = g.out_plane(), taps = g.kh * g.kw;
  const int64_t planes = g.n * g.c;  // one input plane and its mult output planes per task
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(planes, 1)));
  std::vector<float> dw_part(dw ? static_cast<size_t>(nt) * g.k * taps : 0, 0.0f);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t i = q / g.c, ci = q % g.c;
    if (dx) std::memset(dx + q * in, 0, sizeof(float) * in);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t o = ci * mult + m;
      const float* gy = dy + (i * g.k + o) * out;
      if (dx) t.f32_dwconv2d_plane_bwd_data(gy, w + o * taps, dx + q * in, g);
      if (dw)
        t.f32_dwconv2d_plane_bwd_weight(x + q * in, gy,
                                        dw_part.data() + (thread_id() * g.k + o) * taps, g);
    }
  }
  if (dw)
    for (int s = 0; s < nt; ++s)
      for (int64_t j = 0; j < g.k * taps; ++j) dw[j] += dw_part[s * g.k * taps + j];
}

}  // namespace

void conv2d_check_geom(const Conv2dGeom& g) {
  require(g.n >= 0, "conv2d: batch must be >= 0, got " + str(g.n));
  require(g.c >= 1 && g.k >= 1, "conv2d: in_channels and out_channels must be >= 1, got " +
                                    pair(g.c, g.k));
  require(g.h >= 1 && g.w >= 1, "conv2d: input plane must be non-empty, got " + pair(g.h, g.w));
  require(g.kh >= 1 && g.kw >= 1, "conv2d: kernel_size must be >= 1, got " + pair(g.kh, g.kw));
  require(g.sh >= 1 && g.sw >= 1, "conv2d: stride must be >= 1, got " + pair(g.sh, g.sw));
  require(g.ph >= 0 && g.pw >= 0, "conv2d: padding must be >= 0, got " + pair(g.ph, g.pw));
  require(g.dh >= 1 && g.dw >= 1, "conv2d: dilation must be >= 1, got " + pair(g.dh, g.dw));
  require(g.groups >= 1 && g.c % g.groups == 0 && g.k % g.groups == 0,
          "conv2d: groups (" + str(g.groups) + ") must divide in_channels (" + str(g.c) +
              ") and out_channels (" + str(g.k) + ")");
  const int64_t ekh = g.dh * (g.kh - 1) + 1, ekw = g.dw * (g.kw - 1) + 1;
  require(g.h + 2 * g.ph >= ekh && g.w + 2 * g.pw >= ekw,
          "conv2d: kernel " + pair(ekh, ekw) + " (dilated) is larger than the padded input " +
              pair(g.h + 2 * g.ph, g.w + 2 * g.pw));
  const int64_t oh = (g.h + 2 * g.ph - ekh) / g.sh + 1, ow = (g.w + 2 * g.pw - ekw) / g.sw + 1;
  require(g.oh == oh && g.ow == ow,
          "conv2d: output plane must be " + pair(oh, ow) + ", got " + pair(g.oh, g.ow));
  // Vector lanes index columns in int32 (depthwise leaves).
  require(g.w + ekw + 64 * g.sw < (int64_t(1) << 31), "conv2d: input too wide (" + str(g.w) + ")");
}

void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dGeom& g) {
  conv2d_check_geom(g);
  if (g.n == 0) return;
  if (g.is_depthwise()) return depthwise_forward(x, w, bias, y, g);
  const int mr = kernels().f32_mr, nr = kernels().f32_nr;
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  std::vector<PackedA> wpack;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    wpack.emplace_back(MatView{w + grp * kg * K, kg, K, K, 1}, mr);
  for_each_image(g.n, image_slots(g.n), [&](int64_t i, int) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      float* yg = y + (i * g.k + grp * kg) * P;
      const float* xg = x + (i * g.c + grp * cg) * HW;
      float beta = 0.0f;
      if (bias) {  // start C at the bias; the GEMM accumulates onto it
        for (int64_t r = 0; r < kg; ++r) std::fill(yg + r * P, yg + (r + 1) * P, bias[grp * kg + r]);
        beta = 1.0f;
      }
      if (g.is_pointwise()) {
        const MatView xv{xg, cg, HW, HW, 1};
        sgemm_driver(
            kg, P, K, wpack[grp],
            [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
              pack_b_f32(xv, p0, j0, kc, nc, nr, dst);
            },
            yg, P, 1.0f, beta, nullptr, Epilogue{});
      } else {
        const Im2col im{xg, g};
        sgemm_driver(
            kg, P, K, wpack[grp],
            [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
              im.pack_b(p0, j0, kc, nc, nr, dst);
            },
            yg, P, 1.0f, beta, nullptr, Epilogue{});
      }
    }
  });
}

void conv2d_backward(const float* x, const float* dy, const float* w, float* dx, float* dw,
                     float* db, const Conv2dGeom& g, const float* dx_bias) {
  conv2d_check_geom(g);
  require(dy != nullptr, "conv2d_backward: dy is required");
  require(!dw || x, "conv2d_backward: x is required for dw");
  require(!dx || w, "conv2d_backward: w is required for dx");
  if (g.n == 0) return;
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  if (db) channel_sum_accumulate(dy, g.n, g.k, P, db);
  if (g.is_depthwise()) {
    if (dx || dw) depthwise_backward(x, dy, w, dx, dw, g);
  } else if (dx || dw) {
    const int mr = kernels().f32_mr, nr = kernels().f32_nr;
    const bool pointwise = g.is_pointwise();
    std::vector<PackedA> wt;  // W_g^T (K x kg) for dcol = W^T @ dY
    if (dx)
      for (int64_t grp = 0; grp < g.groups; ++grp)
        wt.emplace_back(MatView{w + grp * kg * K, K, kg, 1, K}, mr);
    const int slots = image_slots(g.n);
    const size_t wsize = static_cast<size_t>(g.k * K);
    std::vector<float> dw_part(dw ? slots * wsize : 0, 0.0f);
    std::vector<aligned_ptr<float>> col(slots), dcol(slots);
    for (int s = 0; s < slots; ++s) {
      if (dw && !pointwise) col[s] = aligned_alloc_array<float>(static_cast<size_t>(K * P));
      if (dx && !pointwise) dcol[s] = aligned_alloc_array<float>(static_cast<size_t>(K * P));
    }
    for_each_image(g.n, slots, [&](int64_t i, int slot) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* dyg = dy + (i * g.k + grp * kg) * P;
        const MatView dyv{dyg, kg, P, P, 1};
        if (dw) {
          const float* xg = x + (i * g.c + grp * cg) * HW;
          MatView colt;  // col^T: P x K
          if (pointwise) {
            colt = MatView{xg, P, K, 1, HW};
          } else {
            Im2col{xg, g}.materialise(col[slot].get());
            colt = MatView{col[slot].get(), P, K, 1, P};
          }
          GemmArgs ga;
          ga.a = dyv;
          ga.b = colt;
          ga.c = dw_part.data() + slot * wsize + grp * kg * K;
          ga.ldc = K;
          ga.beta = 1.0f;
          sgemm(ga);
        }
        if (dx) {
          float* dxg = dx + (i * g.c + grp * cg) * HW;
          float* out = pointwise ? dxg : dcol[slot].get();
          sgemm_driver(
              K, P, kg, wt[grp],
              [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
                pack_b_f32(dyv, p0, j0, kc, nc, nr, dst);
              },
              out, P, 1.0f, 0.0f, nullptr, Epilogue{});
          if (!pointwise) {
            std::memset(dxg, 0, sizeof(float) * cg * HW);
            col2im_add(out, g, dxg);
          }
        }
      }
    });
    if (dw)
      for (int s = 0; s < slots; ++s)
        for (size_t j = 0; j < wsize; ++j) dw[j] += dw_part[s * wsize + j];
  }
  if (dx && dx_bias) {
    const int64_t planes = g.n * g.c;
    const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), planes));
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t q = 0; q < planes; ++q) {
      const float b = dx_bias[q % g.c];
      float* d = dx + q * HW;
      for (int64_t j = 0; j < HW; ++j) d[j] += b;
    }
  }
}

void channel_sum_accumulate(const float* x, int64_t n, int64_t c, int64_t plane, float* out) {
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(c, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += row_sum(x + (i * c + ch) * plane, plane);
    out[ch] += static_cast<float>(s);
  }
}

}  // namespace fastnn
