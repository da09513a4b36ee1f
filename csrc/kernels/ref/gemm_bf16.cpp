// Portable bf16 GEMM micro-kernel (8x8 register tile; contract: kernel_table.h "[bf16 GEMM]").
// A pair word's halves widen to float exactly (bf16 is the top half of a float), so each product
// is exact in float32 and one multiply + add per half gives the bits of VDPBF16PS (hi, then lo).
#include <cstring>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

namespace {
// The high (bits 16-31) or low (bits 0-15) bf16 of a pair word, widened to a float (exact).
inline float half(float word, bool high) {
  uint32_t u;
  std::memcpy(&u, &word, 4);
  u = high ? (u & 0xffff0000u) : (u << 16);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

void bf16_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, int accumulate) {
  constexpr int kMR = 8, kNR = 8;
  float acc[kMR][kNR] = {};
  const int64_t steps = (k + 1) / 2;
  for (int64_t q = 0; q < steps; ++q) {
    const float* aq = a + q * kMR;
    const float* bq = b + q * kNR;
    for (int i = 0; i < kMR; ++i) {
      const float ah = half(aq[i], true), al = half(aq[i], false);
      for (int j = 0; j < kNR; ++j) {
        float v = acc[i][j];
        const float ph = ah * half(bq[j], true);  // exact: 8-bit x 8-bit significands
        v += ph;
        const float pl = al * half(bq[j], false);
        v += pl;
        acc[i][j] = v;
      }
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = accumulate ? *cij + alpha * acc[i][j] : alpha * acc[i][j];
    }
}

// f32_gemv_rows with each w rounded to bfloat16 as it is read (x rounded by the caller).
void bf16_gemv_rows(const float* w, int64_t ldw, const float* x, int64_t k, int64_t n, float* y) {
  for (int64_t j = 0; j < n; ++j) {
    float acc = 0.0f;
    for (int64_t p = 0; p < k; ++p) acc += bf16_rounded(w[j * ldw + p]) * x[p];
    y[j] = acc;
  }
}

}  // namespace ref
}  // namespace fastnn
