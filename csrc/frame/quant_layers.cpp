// Quantized layers on NHWC uint8 tensors: max pooling, global average pooling, im2col and the
// convolution (im2col chunks feeding the int8 GEMM). Checks, blocking and threads here; leaves in
// the kernel table (kernel_table.h, "Quantized tensors and layers"; docs/quantization.md).
#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"
#include "gemm_driver.h"  // aligned_alloc_array
#include "parallel_blocks.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

std::string s(int64_t v) { return std::to_string(v); }

// The padded input rows a band of output rows [oy0, oy1) reads (zero point outside the image),
// into band (row stride (w + 2 pw) * c, 64 bytes of slack left readable after it). Returns y0,
// the band's first row in padded coordinates.
int64_t fill_band(const U8ConvGeom& g, const uint8_t* img, int64_t oy0, int64_t oy1,
                  uint8_t* band) {
  const int64_t xs = (g.w + 2 * g.pw) * g.c, y0 = oy0 * g.sh;
  const int64_t rows = (oy1 - 1 - oy0) * g.sh + (g.kh - 1) * g.dh + 1;
  for (int64_t i = 0; i < rows; ++i) {
    uint8_t* d = band + i * xs;
    const int64_t iy = y0 + i - g.ph;
    if (iy < 0 || iy >= g.h) {
      std::memset(d, g.pad, static_cast<size_t>(xs));
      continue;
    }
    std::memset(d, g.pad, static_cast<size_t>(g.pw * g.c));
    std::memcpy(d + g.pw * g.c, img + iy * g.w * g.c, static_cast<size_t>(g.w * g.c));
    std::memset(d + (g.pw + g.w) * g.c, g.pad, static_cast<size_t>(g.pw * g.c));
  }
  return y0;
}

int64_t band_bytes(const U8ConvGeom& g, int64_t band_oy) {
  return ((band_oy - 1) * g.sh + (g.kh - 1) * g.dh + 1) * (g.w + 2 * g.pw) * g.c + 64;
}

// A unit of convolution work: whole images [img0, img1), or output rows [oy0, oy1) of img0.
struct ConvChunk {
  int64_t img0, img1, oy0, oy1;
};

// im2col rows of one chunk into dst (rows in output order, 64 bytes of slack after them).
void im2col_chunk(const KernelTable& t, const U8ConvGeom& g, const uint8_t* x, const ConvChunk& ch,
                  uint8_t* band, uint8_t* dst) {
  const int64_t img_bytes = g.h * g.w * g.c, xs = (g.w + 2 * g.pw) * g.c;
  for (int64_t img = ch.img0; img < ch.img1; ++img) {
    const int64_t y0 = fill_band(g, x + img * img_bytes, ch.oy0, ch.oy1, band);
    const int64_t rows = (ch.oy1 - ch.oy0) * g.ow;
    t.u8_im2col_band(g, band, xs, y0, ch.oy0 * g.ow, rows, dst);
    dst += rows * g.kp;
  }
}

// Chunks of about `target` im2col rows: several whole images when one is smaller, else bands of
// output rows; at least ~4 per thread when the batch allows it.
std::vector<ConvChunk> conv_chunks(const U8ConvGeom& g, int64_t n, int64_t target, int nthreads) {
  std::vector<ConvChunk> chunks;
  const int64_t per_img = g.oh * g.ow;
  if (per_img <= target) {
    int64_t imgs = std::max<int64_t>(1, target / per_img);
    imgs = std::min(imgs, std::max<int64_t>(1, (n + 4 * nthreads - 1) / (4 * nthreads)));
    for (int64_t i = 0; i < n; i += imgs) chunks.push_back({i, std::min(n, i + imgs), 0, g.oh});
  } else {
    const int64_t band = std::max<int64_t>(1, target / g.ow);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t oy = 0; oy < g.oh; oy += band)
        chunks.push_back({i, i + 1, oy, std::min(g.oh, oy + band)});
  }
  return chunks;
}

int64_t chunk_rows(const U8ConvGeom& g, const ConvChunk& ch) {
  return (ch.img1 - ch.img0) * (ch.oy1 - ch.oy0) * g.ow;
}

}  // namespace

void conv2d_u8_check_geom(const U8ConvGeom& g) {
  if (g.h < 1 || g.w < 1 || g.c < 1)
    throw std::invalid_argument("x: expected a non-empty image, got h, w, c = " + s(g.h) + ", " +
                                s(g.w) + ", " + s(g.c));
  // Range checks on kernel, stride, padding, dilation; overflow-checked extents.
  const auto [oh, ow] = g.out_size(g.h, g.w, "conv2d_u8");
  if (oh < 1 || ow < 1)
    throw std::invalid_argument("x: kernel (" + s(g.span_h()) + ", " + s(g.span_w()) +
                                ") larger than the padded image (" + s(g.h + 2 * g.ph) + " x " +
                                s(g.w + 2 * g.pw) + ")");
  if (g.oh != oh || g.ow != ow)
    throw std::invalid_argument("geometry: expected output " + s(oh) + " x " + s(ow) + ", got " +
                                s(g.oh) + " x " + s(g.ow));
  int64_t k = 0;
  if (__builtin_mul_overflow(g.kh * g.kw, g.c, &k))
    throw std::invalid_argument("geometry: kh * kw * c overflows int64");
  if (g.k != k)
    throw std::invalid_argument("geometry: k must be kh * kw * c = " + s(k) + ", got " + s(g.k));
  if (g.kp < g.k)
    throw std::invalid_argument("kp: must be >= kh * kw * c = " + s(k) + ", got " + s(g.kp));
}

namespace {

void check_pool(const U8Pool& p, int64_t h, int64_t w) {
  // Range checks on kernel, stride and padding; overflow-checked extents.
  if (p.dh != 1 || p.dw != 1)
    throw std::invalid_argument("dilation: u8 max pooling supports 1 only, got (" + s(p.dh) +
                                ", " + s(p.dw) + ")");
  const auto [oh, ow] = p.out_size(h, w, "maxpool2d_u8");
  if (2 * p.ph > p.kh || 2 * p.pw > p.kw)
    throw std::invalid_argument("padding: must be at most half of kernel_size");
  if (oh < 1 || ow < 1)
    throw std::invalid_argument("x: pooling kernel larger than the padded input (" + s(h) +
                                " x " + s(w) + ")");
}

// Output rows [oy0, oy1) of the max pooling of one NHWC image xi (h x w x c) into yi. Output
// columns whose window lies inside the image go through the row leaf, the (at most pw / sw + 1
// on each side) others, clipped by padding, through the tap leaf. taps: kh * kw slots, rows: kh.
void maxpool_image_rows(const KernelTable& t, const uint8_t* xi, int64_t h, int64_t w, int64_t c,
                        const U8Pool& p, int64_t oy0, int64_t oy1, uint8_t* yi,
                        const uint8_t** taps, const uint8_t** rows) {
  const int64_t ow = p.out_size(h, w, "maxpool2d_u8")[1];
  const int64_t ox_lo = std::min(ow, (p.pw + p.sw - 1) / p.sw);
  const int64_t ox_hi = std::max(ox_lo, std::min(ow, (w + p.pw - p.kw) / p.sw + 1));
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    uint8_t* yrow = yi + oy * ow * c;
    const int64_t y0 = std::max<int64_t>(0, oy * p.sh - p.ph);
    const int64_t y1 = std::min(h, oy * p.sh - p.ph + p.kh);
    for (int64_t iy = y0; iy < y1; ++iy)  // padding <= k / 2: at least one row and column
      rows[iy - y0] = xi + (iy * w + ox_lo * p.sw - p.pw) * c;
    if (ox_hi > ox_lo)
      t.u8_maxpool_row(rows, y1 - y0, p.kw, p.sw, c, ox_hi - ox_lo, yrow + ox_lo * c);
    for (int64_t ox = 0; ox < ow; ++ox) {
      if (ox == ox_lo) ox = ox_hi;
      if (ox >= ow) break;
      const int64_t x0 = std::max<int64_t>(0, ox * p.sw - p.pw);
      const int64_t x1 = std::min(w, ox * p.sw - p.pw + p.kw);
      int64_t nt = 0;
      for (int64_t iy = y0; iy < y1; ++iy)
        for (int64_t ix = x0; ix < x1; ++ix) taps[nt++] = xi + (iy * w + ix) * c;
      t.u8_max_taps(taps, nt, yrow + ox * c, c);
    }
  }
}

}  // namespace

void maxpool2d_u8_nhwc(const uint8_t* x, int64_t n, int64_t h, int64_t w, int64_t c,
                       const U8Pool& p, uint8_t* y) {
  if (n < 0 || h < 1 || w < 1 || c < 1)
    throw std::invalid_argument("x: expected a non-empty (n, h, w, c) batch, got h, w, c = " +
                                s(h) + ", " + s(w) + ", " + s(c));
  check_pool(p, h, w);
  const KernelTable& t = kernels();
  const auto [oh, ow] = p.out_size(h, w, "maxpool2d_u8");
  parallel_blocks(n * oh, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, ow * c)),
                  [&](int64_t b, int64_t e) {
    std::vector<const uint8_t*> taps(static_cast<size_t>(p.kh * p.kw));
    std::vector<const uint8_t*> rows(static_cast<size_t>(p.kh));
    for (int64_t row = b; row < e;) {  // runs of output rows inside one image
      const int64_t img = row / oh, oy = row % oh, cnt = std::min(e - row, oh - oy);
      maxpool_image_rows(t, x + img * h * w * c, h, w, c, p, oy, oy + cnt,
                         y + img * oh * ow * c, taps.data(), rows.data());
      row += cnt;
    }
  });
}

// Sums in int32 over at most 2^23 rows at a time (255 * 2^23 < 2^31), carried in int64.
void global_avgpool_u8_nhwc(const uint8_t* x, int64_t n, int64_t hw, int64_t c, uint8_t* y) {
  if (n < 0 || c < 1 || hw < 1)
    throw std::invalid_argument("x: expected (n, h, w, c) with h * w >= 1 and c >= 1, got n = " +
                                s(n) + ", h * w = " + s(hw) + ", c = " + s(c));
  const KernelTable& t = kernels();
  constexpr int64_t kRows = int64_t(1) << 23;
  parallel_blocks(n, 1, [&](int64_t b, int64_t e) {
    std::vector<int32_t> acc(static_cast<size_t>(c));
    std::vector<int64_t> sum(static_cast<size_t>(c));
    for (int64_t img = b; img < e; ++img) {
      std::fill(sum.begin(), sum.end(), 0);
      for (int64_t r0 = 0; r0 < hw; r0 += kRows) {
        std::fill(acc.begin(), acc.end(), 0);
        t.u8_sum_rows(x + (img * hw + r0) * c, std::min(kRows, hw - r0), c, acc.data());
        for (int64_t j = 0; j < c; ++j) sum[j] += acc[j];
      }
      for (int64_t j = 0; j < c; ++j) {  // round half to even of sum / hw, in integers
        int64_t q = sum[j] / hw;
        const int64_t r2 = 2 * (sum[j] % hw);
        q += (r2 > hw || (r2 == hw && (q & 1))) ? 1 : 0;
        y[img * c + j] = static_cast<uint8_t>(q);
      }
    }
  });
}

void im2col_u8_nhwc(const U8ConvGeom& g, const uint8_t* x, int64_t n, uint8_t* dst) {
  conv2d_u8_check_geom(g);
  if (n < 0) throw std::invalid_argument("x: negative batch");
  const KernelTable& t = kernels();
  const int64_t per_img = g.oh * g.ow;
  parallel_blocks(n, 1, [&](int64_t b, int64_t e) {  // the same band path as the convolution
    std::vector<uint8_t> band(static_cast<size_t>(band_bytes(g, g.oh)), 0);
    std::vector<uint8_t> rows(static_cast<size_t>(per_img * g.kp + 64));
    for (int64_t img = b; img < e; ++img) {
      im2col_chunk(t, g, x, {img, img + 1, 0, g.oh}, band.data(), rows.data());
      std::memcpy(dst + img * per_img * g.kp, rows.data(), static_cast<size_t>(per_img * g.kp));
    }
  });
}

void conv2d_u8_nhwc(const uint8_t* x, int64_t n, const U8ConvGeom& g, const S8GemmArgs& ep,
                    void* out, const U8Pool* pool) {
  conv2d_u8_check_geom(g);
  if (n < 0) throw std::invalid_argument("x: negative batch");
  if (!ep.b) throw std::invalid_argument("packed: expected packed weights, got null");
  const bool direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  const int64_t kexp = direct ? g.c : g.kp;
  if (ep.b->k != kexp)
    throw std::invalid_argument(std::string("packed: expected weights of shape (out_channels, ") +
                                s(kexp) + ") for this convolution" +
                                (direct ? " (1x1: k = in_channels)" : " (k = kh * kw * c padded)") +
                                ", got (" + s(ep.b->n) + ", " + s(ep.b->k) + ")");
  if (!direct && g.kp % kS8KG != 0)
    throw std::invalid_argument("geometry: kp must be a multiple of 4, got " + s(g.kp));
  const int64_t m = n * g.oh * g.ow, cols = ep.b->n;
  const size_t esize = ep.out == S8Out::u8 ? 1 : 4;
  if (pool) {
    if (ep.out != S8Out::u8) throw std::invalid_argument("pool: needs uint8 output");
    check_pool(*pool, g.oh, g.ow);
  }
  S8GemmArgs base = ep;
  base.c = out;
  base.ldc = cols;
  if (direct && pool) {  // rare: the whole convolution, then the pooling
    std::vector<uint8_t> tmp(static_cast<size_t>(m * cols));
    conv2d_u8_nhwc(x, n, g, ep, tmp.data(), nullptr);
    maxpool2d_u8_nhwc(tmp.data(), n, g.oh, g.ow, cols, *pool, static_cast<uint8_t*>(out));
    return;
  }
  if (direct) {  // the NHWC image is the GEMM's A: (n * h * w) x c, read in place
    base.a = x;
    base.m = m;
    base.k = g.c;
    base.a_rs = g.c;
    base.a_cs = 1;
    gemm_u8s8(base);
    return;
  }
  if (m == 0) return;
  // Chunks of ~96 KiB of im2col rows: they stay in L2 beside the weight panels.
  const int nt_max = std::max(1, get_num_threads());
  const int64_t target = std::max<int64_t>(64, (96 << 10) / g.kp);
  // Fused pooling needs whole images per chunk (for large images the chunk outgrows L2).
  const std::vector<ConvChunk> chunks =
      conv_chunks(g, n, pool ? std::max(target, g.oh * g.ow) : target, nt_max);
  int64_t max_rows = 0, max_band = 0;
  for (const ConvChunk& ch : chunks) {
    max_rows = std::max(max_rows, chunk_rows(g, ch));
    max_band = std::max(max_band, ch.oy1 - ch.oy0);
  }
  const int64_t nchunks = static_cast<int64_t>(chunks.size());
  const int nthreads = static_cast<int>(std::min<int64_t>(nt_max, nchunks));
  std::vector<aligned_ptr<uint8_t>> bufs, bands, convout;
  const std::array<int64_t, 2> pout =
      pool ? pool->out_size(g.oh, g.ow, "pool") : std::array<int64_t, 2>{0, 0};
  const int64_t poh = pout[0], pow_ = pout[1];
  for (int i = 0; i < nthreads; ++i) {
    if (pool) convout.push_back(aligned_alloc_array<uint8_t>(static_cast<size_t>(max_rows * cols)));
    bufs.push_back(aligned_alloc_array<uint8_t>(static_cast<size_t>(max_rows * g.kp + 64)));
    bands.push_back(aligned_alloc_array<uint8_t>(static_cast<size_t>(band_bytes(g, max_band))));
    std::memset(bands.back().get(), 0, static_cast<size_t>(band_bytes(g, max_band)));
  }
  const KernelTable& t = kernels();
  std::exception_ptr error;
  auto run = [&](int64_t i, int tid) {
    const ConvChunk& ch = chunks[static_cast<size_t>(i)];
    im2col_chunk(t, g, x, ch, bands[tid].get(), bufs[tid].get());
    S8GemmArgs a = base;
    a.a = bufs[tid].get();
    a.m = chunk_rows(g, ch);
    a.k = g.kp;
    a.a_rs = g.kp;
    a.a_cs = 1;
    const int64_t r0 = ch.img0 * g.oh * g.ow + ch.oy0 * g.ow;
    a.c = pool ? static_cast<void*>(convout[tid].get())
               : static_cast<char*>(out) + r0 * cols * static_cast<int64_t>(esize);
    a.threads = 1;
    gemm_u8s8(a);
    if (!pool) return;
    // Pool each image of the chunk while its convolution output is still in L2.
    std::vector<const uint8_t*> taps(static_cast<size_t>(pool->kh * pool->kw));
    std::vector<const uint8_t*> prow(static_cast<size_t>(pool->kh));
    for (int64_t img = ch.img0; img < ch.img1; ++img)
      maxpool_image_rows(t, convout[tid].get() + (img - ch.img0) * g.oh * g.ow * cols, g.oh, g.ow,
                         cols, *pool, 0, poh,
                         static_cast<uint8_t*>(out) + img * poh * pow_ * cols, taps.data(),
                         prow.data());
  };
  if (nthreads == 1) {
    for (int64_t i = 0; i < nchunks; ++i) run(i, 0);
    return;
  }
#pragma omp parallel num_threads(nthreads)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < nchunks; ++i) {
      try {
        run(i, tid);
      } catch (...) {
#pragma omp critical(fastnn_conv2d_u8_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace fastnn
