// Portable f32 GEMM micro-kernel (8x8 register tile), panel packing, the epilogue and the
// elementwise activation.
// Plain C++; the compiler may auto-vectorise for the baseline ISA only.
#include <algorithm>

#include "act.h"
#include "fastnn/kernel_table.h"

namespace fastnn {

float apply_act(float x, const Epilogue& ep) { return act_scalar(x, ep); }

namespace ref {

constexpr int kMR = 8, kNR = 8;

void f32_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                      int64_t n, float alpha, int accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* ap = a + p * kMR;
    const float* bp = b + p * kNR;
    for (int i = 0; i < kMR; ++i)
      for (int j = 0; j < kNR; ++j) acc[i][j] += ap[i] * bp[j];
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = accumulate ? *cij + alpha * acc[i][j] : alpha * acc[i][j];
    }
}

void f32_pack_panels(const float* src, int64_t s_i, int64_t s_p, int64_t count, int64_t kc, int w,
                     float* dst) {
  for (int64_t i0 = 0; i0 < count; i0 += w, dst += kc * w, src += w * s_i) {
    const int64_t valid = std::min<int64_t>(w, count - i0);
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * w;
      int64_t i = 0;
      for (; i < valid; ++i) d[i] = src[i * s_i + p * s_p];
      for (; i < w; ++i) d[i] = 0.0f;
    }
  }
}

void f32_epilogue(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                  const Epilogue& ep) {
  // The activation goes through the active table's f32_act, so a Linear with a fused activation
  // gives the same bits as the activation layer applied on its own ([layers] fusion contract).
  const f32_act_fn act = kernels().f32_act;
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (bias)
      for (int64_t j = 0; j < n; ++j) ci[j] += bias[j];
    if (ep.act != Act::none) act(ci, ci, n, ep);
  }
}

void f32_gemv_rows(const float* w, int64_t ldw, const float* x, int64_t k, int64_t n, float* y) {
  for (int64_t j = 0; j < n; ++j) {
    float acc = 0.0f;
    for (int64_t p = 0; p < k; ++p) acc += w[j * ldw + p] * x[p];
    y[j] = acc;
  }
}

void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep) {
  for (int64_t i = 0; i < n; ++i) y[i] = act_scalar(x[i], ep);
}

}  // namespace ref
}  // namespace fastnn
