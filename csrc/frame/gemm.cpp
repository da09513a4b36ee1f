// f32 GEMM: argument checks, packing of strided operands, cache blocking, and the public entry
// points. The loop nest itself is sgemm_driver (gemm_driver.h); leaf kernels come from kernels().
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "gemm_driver.h"

namespace fastnn {

GemmBlocking f32_blocking(const KernelTable& t, int64_t m, int64_t n, int64_t k, int nthreads) {
  const int64_t mr = t.f32_mr, nr = t.f32_nr;
  // kc: an mr x kc A micro-panel plus an kc x nr B micro-panel stay in L1 (32-48 KiB);
  // mc: the mc x kc A block stays in L2 (>= 512 KiB); nc: the kc x nc B block in L3.
  int64_t kc = 256;
  int64_t mc = std::max<int64_t>(mr, (96 / mr) * mr);
  int64_t nc = std::max<int64_t>(nr, (4096 / nr) * nr);
  // Give every thread at least one A block when M is small.
  if (nthreads > 1) {
    const int64_t per = (m + nthreads - 1) / nthreads;
    const int64_t per_r = std::max<int64_t>(mr, ((per + mr - 1) / mr) * mr);
    mc = std::min(mc, per_r);
  }
  (void)n;
  (void)k;
  return {mc, kc, nc};
}

void pack_a_f32(const MatView& a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr,
                float* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t mm = std::min<int64_t>(mr, mc - ir);
    float* panel = dst + (ir / mr) * kc * mr;
    const float* src = a.data + (i0 + ir) * a.rs + p0 * a.cs;
    if (a.rs == 1) {
      // Columns of A are contiguous (A was transposed): copy mm floats per k step.
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = src + p * a.cs;
        float* d = panel + p * mr;
        int64_t i = 0;
        for (; i < mm; ++i) d[i] = s[i];
        for (; i < mr; ++i) d[i] = 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* d = panel + p * mr;
        const float* s = src + p * a.cs;
        int64_t i = 0;
        for (; i < mm; ++i) d[i] = s[i * a.rs];
        for (; i < mr; ++i) d[i] = 0.0f;
      }
    }
  }
}

void pack_b_f32(const MatView& b, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr,
                float* dst) {
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const int64_t nn = std::min<int64_t>(nr, nc - jr);
    float* panel = dst + (jr / nr) * kc * nr;
    const float* src = b.data + p0 * b.rs + (j0 + jr) * b.cs;
    if (b.cs == 1) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = src + p * b.rs;
        float* d = panel + p * nr;
        int64_t j = 0;
        for (; j < nn; ++j) d[j] = s[j];
        for (; j < nr; ++j) d[j] = 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = src + p * b.rs;
        float* d = panel + p * nr;
        int64_t j = 0;
        for (; j < nn; ++j) d[j] = s[j * b.cs];
        for (; j < nr; ++j) d[j] = 0.0f;
      }
    }
  }
}

namespace {

std::string dims(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

void check(const GemmArgs& g) {
  if (!g.a.data && g.a.rows * g.a.cols > 0) throw std::invalid_argument("sgemm: a is null");
  if (!g.b.data && g.b.rows * g.b.cols > 0) throw std::invalid_argument("sgemm: b is null");
  if (g.a.cols != g.b.rows)
    throw std::invalid_argument("sgemm: inner dimensions differ: a is " + dims(g.a.rows, g.a.cols) +
                                ", b is " + dims(g.b.rows, g.b.cols));
  if (g.a.rows < 0 || g.a.cols < 0 || g.b.cols < 0)
    throw std::invalid_argument("sgemm: negative dimension");
  if (g.ldc < g.b.cols) throw std::invalid_argument("sgemm: ldc < n");
  if (!g.c && g.a.rows * g.b.cols > 0) throw std::invalid_argument("sgemm: c is null");
  if (g.beta != 0.0f && g.beta != 1.0f)
    throw std::invalid_argument("sgemm: beta must be 0 or 1, got " + std::to_string(g.beta));
}

}  // namespace

void sgemm(const GemmArgs& g) {
  check(g);
  const int mr = kernels().f32_mr, nr = kernels().f32_nr;
  const MatView a = g.a, b = g.b;
  sgemm_driver(
      a.rows, b.cols, a.cols,
      [&](int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) {
        pack_a_f32(a, i0, p0, mc, kc, mr, dst);
      },
      [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
        pack_b_f32(b, p0, j0, kc, nc, nr, dst);
      },
      g.c, g.ldc, g.alpha, g.beta, g.bias, g.ep);
}

float apply_act(float x, const Epilogue& ep);

void sgemm_reference(const GemmArgs& g) {
  check(g);
  for (int64_t i = 0; i < g.a.rows; ++i)
    for (int64_t j = 0; j < g.b.cols; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < g.a.cols; ++p)
        acc += double(g.a.data[i * g.a.rs + p * g.a.cs]) * double(g.b.data[p * g.b.rs + j * g.b.cs]);
      float* cij = g.c + i * g.ldc + j;
      float v = g.alpha * float(acc) + (g.beta != 0.0f ? *cij : 0.0f);
      if (g.bias) v += g.bias[j];
      *cij = apply_act(v, g.ep);
    }
}

}  // namespace fastnn
