// 2-D convolution drivers (NCHW): checks, choice of algorithm, GEMM orientation, threading.
//
// Stride 1 (any padding, dilation, groups; 1x1 included) works in "padded-width" coordinates
// (conv2d_parts.h), where every im2col row is a contiguous slice of a zero-padded input copy:
//   forward  C (kg x pixels) = W @ col over a chunk of images at once (B panel rows are slices
//            of the padded inputs), compacted into the NCHW outputs; when kg would leave many
//            rows of the register tile empty (kg = 32 with mr = 14), C^T (pixels x kg) = col^T @
//            W^T instead, transposed into the outputs by the f32_transpose_rows leaf.
//   dX       dcol (K x pixels) = W^T @ dY, then col2im in gather form straight into dX
//            (f32_col2im_row: each input element summed in a register, stored once).
//   dW       dW^T (K x kg) += col @ dY^T with the contraction over the pixels of a chunk of
//            images; both operands are contiguous along pixels and are packed into GEMM panels by
//            the f32_transpose_rows leaf. K x kg keeps the long side (taps) in M.
// Other strides: Y (kg x pixels) = W @ col per image with Im2col::pack_b gathering B panels from
// the image, dX through a materialised dcol and col2im, dW as above on a materialised col.
// Depthwise (groups == in_channels): direct per-plane leaves.
// Threads: over images when the batch keeps every thread busy (each GEMM then runs single-threaded
// inside an inactive nested region), otherwise images in turn with the GEMM's own threading.
// dW goes to per-thread buffers summed in thread order (same bits for a given thread count).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv2d_parts.h"

namespace fastnn {

using namespace conv;

namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string pair(int64_t a, int64_t b) { return "(" + str(a) + ", " + str(b) + ")"; }

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// Inputs and outputs of a chunk of images are prepared for about this many bytes at a time.
constexpr int64_t kChunkBytes = 512 * 1024;

int64_t chunk_images(int64_t bytes_per_image, int64_t images) {
  const int64_t c = kChunkBytes / std::max<int64_t>(1, bytes_per_image);
  return std::max<int64_t>(1, std::min(c, std::max<int64_t>(images, 1)));
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
  require(x && w && y, "conv2d_forward: null array");
  if (g.n == 0) return;
  if (g.is_depthwise()) return depthwise_forward(x, w, bias, y, g);
  const KernelTable& t = kernels();
  const int mr = t.f32_mr, nr = t.f32_nr;
  const int64_t kg = g.kg(), cg = g.cg(), K = g.kdim(), P = g.out_plane(), HW = g.in_plane();
  const int slots = image_slots(g.n);
  if (g.sh != 1 || g.sw != 1) {  // any stride: Y = W @ col per image
    std::vector<PackedA> wpack;
    for (int64_t grp = 0; grp < g.groups; ++grp)
      wpack.emplace_back(MatView{w + grp * kg * K, kg, K, K, 1}, mr);
    for_image_ranges(g.n, slots, [&](int, int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          float* yg = y + (i * g.k + grp * kg) * P;
          const float* bg = bias ? bias + grp * kg : nullptr;
          if (bg)  // start C at the bias; the GEMM accumulates onto it
            for (int64_t r = 0; r < kg; ++r) std::fill(yg + r * P, yg + (r + 1) * P, bg[r]);
          const Im2col im{x + (i * g.c + grp * cg) * HW, g};
          sgemm_driver(
              kg, P, K, wpack[grp],
              [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
                im.pack_b(p0, j0, kc, nc, nr, dst);
              },
              yg, P, 1.0f, bg ? 1.0f : 0.0f, nullptr, Epilogue{});
        }
    });
    return;
  }
  const PaddedWidth pw(g);
  // Orientation: C = W @ col (kg x pixels) unless kg leaves much of the register tile's rows
  // empty; then C^T = col^T @ W^T (pixels x kg), transposed into the output afterwards.
  const int64_t kg_rows = (kg + mr - 1) / mr * mr;
  const bool pixels_in_m = kg_rows * 100 > kg * 115;
  std::vector<PackedA> wa;  // W_g (kg x K)
  std::vector<PackedB> wb;  // W_g^T (K x kg)
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    if (pixels_in_m) wb.emplace_back(MatView{w + grp * kg * K, K, kg, 1, K}, nr);
    else wa.emplace_back(MatView{w + grp * kg * K, kg, K, K, 1}, mr);
  }
  const int64_t xp_size = pw.direct ? 0 : pw.buffer_size(cg);
  const int64_t chunk = chunk_images((xp_size + pw.pcols * kg) * 4, (g.n + slots - 1) / slots);
  for_image_ranges(g.n, slots, [&](int, int64_t lo, int64_t hi) {
    aligned_ptr<float> xp, cbuf = aligned_alloc_array<float>(static_cast<size_t>(chunk * pw.pcols * kg));
    if (xp_size) xp = aligned_alloc_array<float>(static_cast<size_t>(chunk * xp_size));
    std::vector<const float*> src, rows(static_cast<size_t>(g.ow));
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t c0 = lo; c0 < hi; c0 += chunk) {
        const int64_t nb = std::min(chunk, hi - c0), M = nb * pw.pcols;
        src.clear();
        for (int64_t i = c0; i < c0 + nb; ++i) {
          const float* xg = x + (i * g.c + grp * cg) * HW;
          if (pw.direct) {
            src.push_back(xg);
          } else {
            float* d = xp.get() + (i - c0) * xp_size;
            pw.pad(xg, g, cg, d);
            src.push_back(d);
          }
        }
        if (pixels_in_m)
          sgemm_driver(
              M, kg, K,
              [&](int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) {
                pack_pixel_panels(src, pw, i0, mc, p0, kc, mr, dst);
              },
              wb[grp], cbuf.get(), kg, 1.0f, 0.0f, nullptr, Epilogue{});
        else
          sgemm_driver(
              kg, M, K, wa[grp],
              [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
                pack_pixel_panels(src, pw, j0, nc, p0, kc, nr, dst);
              },
              cbuf.get(), M, 1.0f, 0.0f, nullptr, Epilogue{});
        // C -> the images' NCHW blocks without the discarded columns, then the bias (a
        // vectorised row pass while the block is in cache).
        for (int64_t i = 0; i < nb; ++i) {
          float* yg = y + ((c0 + i) * g.k + grp * kg) * P;
          if (pixels_in_m) {
            for (int64_t oy = 0; oy < g.oh; ++oy) {
              const float* c = cbuf.get() + (i * pw.pcols + oy * pw.wp) * kg;
              for (int64_t ox = 0; ox < g.ow; ++ox) rows[ox] = c + ox * kg;
              t.f32_transpose_rows(rows.data(), g.ow, kg, P, g.ow, yg + oy * g.ow);
            }
            if (bias)
              for (int64_t o = 0; o < kg; ++o)
                t.f32_row_affine(yg + o * P, yg + o * P, P, 1.0f, bias[grp * kg + o]);
          } else {
            for (int64_t o = 0; o < kg; ++o)
              t.f32_copy_rows_padded(cbuf.get() + o * M + i * pw.pcols, pw.wp, g.ow, 0,
                                     bias ? bias[grp * kg + o] : 0.0f, g.oh, yg + o * P, g.ow, g.ow);
          }
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
    const bool padded = g.sh == 1 && g.sw == 1;
    const PaddedWidth pw(g);
    std::vector<PackedA> wt;  // W_g^T (K x kg) for dcol = W^T @ dY
    if (dx)
      for (int64_t grp = 0; grp < g.groups; ++grp)
        wt.emplace_back(MatView{w + grp * kg * K, K, kg, 1, K}, mr);
    // Contraction length per image, the period of its discarded columns, the offsets of the
    // im2col rows inside an image's tap source, and the per-image buffer sizes.
    int64_t len = P, period = P, valid = P, tap_size = 0, grad_size = 0;
    std::vector<int64_t> tap_off(static_cast<size_t>(K));
    if (padded) {
      len = pw.pcols;
      period = pw.wp;
      valid = g.ow;
      tap_off = pw.off;
      tap_size = pw.direct ? 0 : pw.buffer_size(cg);
      grad_size = pw.discards() ? kg * pw.pcols : 0;
    } else {
      for (int64_t p = 0; p < K; ++p) tap_off[p] = p * P;
      tap_size = K * P;
    }
    if (!dw) tap_size = 0;
    const int slots = image_slots(g.n);
    const int64_t chunk = chunk_images((tap_size + grad_size) * 4, (g.n + slots - 1) / slots);
    const size_t wsize = static_cast<size_t>(K * kg);  // one group's dW^T
    std::vector<float> dwt(dw ? slots * g.groups * wsize : 0, 0.0f);
    for_image_ranges(g.n, slots, [&](int slot, int64_t lo, int64_t hi) {
      aligned_ptr<float> taps_buf, grads_buf, dcol;
      if (tap_size) taps_buf = aligned_alloc_array<float>(static_cast<size_t>(chunk * tap_size));
      if (grad_size) grads_buf = aligned_alloc_array<float>(static_cast<size_t>(chunk * grad_size));
      if (dx && !pw.direct) dcol = aligned_alloc_array<float>(static_cast<size_t>(K * len));
      std::vector<const float*> taps, grads;
      for (int64_t grp = 0; grp < g.groups; ++grp)
        for (int64_t c0 = lo; c0 < hi; c0 += chunk) {
          const int64_t c1 = std::min(hi, c0 + chunk);
          taps.clear();
          grads.clear();
          for (int64_t i = c0; i < c1; ++i) {
            const float* xg = x ? x + (i * g.c + grp * cg) * HW : nullptr;
            const float* dyg = dy + (i * g.k + grp * kg) * P;
            const float* grad = dyg;
            if (grad_size) {
              float* gd = grads_buf.get() + (i - c0) * grad_size;
              pw.expand(dyg, kg, gd);
              grad = gd;
            }
            grads.push_back(grad);
            if (dw) {
              float* tap_dst = tap_size ? taps_buf.get() + (i - c0) * tap_size : nullptr;
              if (!tap_size) taps.push_back(xg);
              else if (padded) pw.pad(xg, g, cg, tap_dst);
              else Im2col{xg, g}.materialise(tap_dst);
              if (tap_size) taps.push_back(tap_dst);
            }
            if (!dx) continue;
            // dcol = W^T @ dY, then col2im into dx.
            float* dxg = dx + (i * g.c + grp * cg) * HW;
            const MatView gv{grad, kg, len, len, 1};
            float* out = pw.direct && padded ? dxg : dcol.get();
            sgemm_driver(
                K, len, kg, wt[grp],
                [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
                  pack_b_f32(gv, p0, j0, kc, nc, nr, dst);
                },
                out, len, 1.0f, 0.0f, nullptr, Epilogue{});
            if (padded && !pw.direct) {
              pw.col2im(dcol.get(), len, g, cg, dxg);
            } else if (!padded) {
              std::memset(dxg, 0, sizeof(float) * cg * HW);
              col2im_add(dcol.get(), g, dxg);
            }
          }
          if (dw)
            weight_grad_gemm(taps, tap_off.data(), K, grads, len, kg, len, period, valid,
                             dwt.data() + (slot * g.groups + grp) * wsize);
        }
    });
    if (dw)  // dw[grp*kg + o][p] += sum over slots of dW^T[p][o]
      for (int64_t grp = 0; grp < g.groups; ++grp)
        for (int s = 0; s < slots; ++s) {
          const float* part = dwt.data() + (s * g.groups + grp) * wsize;
          for (int64_t o = 0; o < kg; ++o) {
            float* row = dw + (grp * kg + o) * K;
            for (int64_t p = 0; p < K; ++p) row[p] += part[p * kg + o];
          }
        }
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
  const auto moments = kernels().f32_row_moments;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(c, 1)));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      float rs, rq;
      moments(x + (i * c + ch) * plane, plane, 0.0f, &rs, &rq);
      s += rs;
    }
    out[ch] += static_cast<float>(s);
  }
}

}  // namespace fastnn
