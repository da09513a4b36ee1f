// Convolution with a sparse (CSR) weight, for pruned Conv2d layers at inference: each image is
// unrolled into its im2col matrix (c*kh*kw rows x oh*ow pixels) and multiplied by the CSR weight
// with sparse_matmul (W @ X, the layout whose output is already NCHW). ISA-free: the im2col here
// is data movement only; the arithmetic is the sparse kernels'.
#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "gemm_driver.h"  // aligned_alloc_array

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

// im2col rows per parallel task; below this much work one thread unrolls the image.
constexpr int64_t kMinUnrollPerThread = 16 * 1024;

std::string geometry(const SparseConvShape& s) {
  return "input " + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w) +
         ", kernel " + std::to_string(s.kh) + "x" + std::to_string(s.kw) + ", output " +
         std::to_string(s.oh) + "x" + std::to_string(s.ow);
}

void check_shape(const CsrView& w, const SparseConvShape& s) {
  if (!(s.c > 0 && s.h > 0 && s.w > 0))
    throw std::invalid_argument("x: expected a non-empty (c, h, w) image, got " + geometry(s));
  // Range checks on kernel, stride, padding, dilation; overflow-checked extents.
  const auto [oh, ow] = s.out_size(s.h, s.w, "sparse_conv2d");
  if (oh < 1 || ow < 1)
    throw std::invalid_argument("x: the (dilated) kernel " + std::to_string(s.span_h()) + "x" +
                                std::to_string(s.span_w()) + " is larger than the padded input " +
                                std::to_string(s.h + 2 * s.ph) + "x" +
                                std::to_string(s.w + 2 * s.pw) + " (" + geometry(s) + ")");
  if (oh != s.oh || ow != s.ow)
    throw std::invalid_argument("sparse_conv2d: output " + std::to_string(s.oh) + "x" +
                                std::to_string(s.ow) + " does not match the geometry (expected " +
                                std::to_string(oh) + "x" + std::to_string(ow) + ")");
  int64_t cols = 0;
  if (__builtin_mul_overflow(s.c, s.kh * s.kw, &cols))
    throw std::invalid_argument("sparse_conv2d: in_channels * kh * kw overflows int64 (" +
                                geometry(s) + ")");
  if (w.cols != cols)
    throw std::invalid_argument("weight: expected " + std::to_string(cols) +
                                " columns (in_channels * kh * kw), got " + std::to_string(w.cols));
}

// Row r = (ci*kh + ky)*kw + kx of the im2col matrix: cols[r*ld + oy*ow + ox] =
// x[ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw], zero outside the image.
void unroll_row(const float* img, const SparseConvShape& s, int64_t r, float* out) {
  const int64_t kx = r % s.kw, ky = (r / s.kw) % s.kh, ci = r / (s.kw * s.kh);
  const float* plane = img + ci * s.h * s.w;
  // Output columns whose input column lies inside the image: [ox0, ox1).
  const int64_t off = kx * s.dw - s.pw;  // input column of ox = 0
  int64_t ox0 = off >= 0 ? 0 : (-off + s.sw - 1) / s.sw;
  int64_t ox1 = s.w - off <= 0 ? 0 : (s.w - off + s.sw - 1) / s.sw;
  ox0 = std::min(ox0, s.ow);
  ox1 = std::max(ox0, std::min(ox1, s.ow));
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    float* dst = out + oy * s.ow;
    const int64_t iy = oy * s.sh - s.ph + ky * s.dh;
    if (iy < 0 || iy >= s.h) {
      std::fill(dst, dst + s.ow, 0.0f);
      continue;
    }
    const float* src = plane + iy * s.w + off;
    std::fill(dst, dst + ox0, 0.0f);
    if (s.sw == 1) {
      std::memcpy(dst + ox0, src + ox0, static_cast<size_t>(ox1 - ox0) * sizeof(float));
    } else {
      for (int64_t ox = ox0; ox < ox1; ++ox) dst[ox] = src[ox * s.sw];
    }
    std::fill(dst + ox1, dst + s.ow, 0.0f);
  }
}

}  // namespace

void sparse_conv2d(const CsrView& w, const float* x, int64_t n, const SparseConvShape& s,
                   const float* bias, const Epilogue& ep, float* y) {
  if (n < 0) throw std::invalid_argument("x: negative batch " + std::to_string(n));
  check_shape(w, s);
  if (n == 0 || w.rows == 0) return;
  if (!x || !y) throw std::invalid_argument("sparse_conv2d: null array");
  const int64_t k = w.cols, pixels = s.oh * s.ow, image = s.c * s.h * s.w;
  const bool direct = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
  // Row stride of the unrolled matrix: whole 64-byte lines, an odd number of them, so the
  // sparse driver reads it in place (see usable_in_place in sparse.cpp) and needs no scratch.
  int64_t ld = (pixels + 15) / 16 * 16;
  if ((ld / 16) % 2 == 0) ld += 16;
  const int threads = get_num_threads();
  auto view = [&](const float* data, int64_t rs) {
    MatView v;
    v.data = data;
    v.rows = k;
    v.cols = pixels;
    v.rs = rs;
    v.cs = 1;
    return v;
  };
  if (n >= 2 && threads > 1) {
    // Threads split the images: one parallel region for the whole batch, each thread unrolling
    // into its own buffer; the sparse product inside runs on the calling thread alone (a nested
    // region). Per-image regions would pay a fork/join -- and, on a loaded machine, a wait for a
    // descheduled thread -- twice per image.
    const int nt = static_cast<int>(std::min<int64_t>(threads, n));
    aligned_ptr<float> cols = aligned_alloc_array<float>(static_cast<size_t>(nt * k * ld));
    std::exception_ptr error;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t b = 0; b < n; ++b) {
#ifdef _OPENMP
      float* c = cols.get() + omp_get_thread_num() * k * ld;
#else
      float* c = cols.get();
#endif
      try {
        for (int64_t r = 0; r < k; ++r) unroll_row(x + b * image, s, r, c + r * ld);
        sparse_matmul(w, view(c, ld), bias, ep, y + b * w.rows * pixels, pixels);
      } catch (...) {
#pragma omp critical(fastnn_sparse_conv2d_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    return;
  }
  // One image (or one thread): the unrolling and the product are threaded within the image.
  aligned_ptr<float> cols;
  if (!direct) cols = aligned_alloc_array<float>(static_cast<size_t>(k * ld));
  const int nt = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(threads, k * pixels / kMinUnrollPerThread)));
  for (int64_t b = 0; b < n; ++b) {
    const float* img = x + b * image;
    if (!direct) {
      float* c = cols.get();
#pragma omp parallel for num_threads(nt) schedule(static)
      for (int64_t r = 0; r < k; ++r) unroll_row(img, s, r, c + r * ld);
    }
    sparse_matmul(w, direct ? view(img, pixels) : view(cols.get(), ld), bias, ep,
                  y + b * w.rows * pixels, pixels);
  }
}

}  // namespace fastnn
