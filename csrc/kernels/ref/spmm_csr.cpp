// Portable CSR sparse x dense kernels (the reference for the vector paths): one output row at a
// time, entries in stored order, accumulated in float. Contracts: kernel_table.h, f32_spmm_fn and
// f32_spmv_fn.
#include <cassert>

#include "act.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_spmm_csr(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                  const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                  int64_t ldy, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  constexpr int64_t kChunk = 256;  // columns per accumulator row (on the stack, in L1)
  float acc[kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t nj = n - j0 < kChunk ? n - j0 : kChunk;
    for (int64_t o = 0; o < m; ++o) {
      const float b = bias ? bias[o] : 0.0f;
      for (int64_t j = 0; j < nj; ++j) acc[j] = b;
      for (int64_t p = row_ptr[o]; p < row_ptr[o + 1]; ++p) {
        const float w = val[p];
        const float* xi = x + static_cast<int64_t>(col[p]) * ldx + j0;
        for (int64_t j = 0; j < nj; ++j) acc[j] += w * xi[j];
      }
      for (int64_t j = 0; j < nj; ++j) y[o * ldy + j0 + j] = act_scalar(acc[j], ep);
    }
  }
}

void f32_spmv_csr(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                  const float* x, const float* bias, float* y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  for (int64_t o = 0; o < m; ++o) {
    float acc = bias ? bias[o] : 0.0f;
    for (int64_t p = row_ptr[o]; p < row_ptr[o + 1]; ++p) acc += val[p] * x[col[p]];
    y[o] = act_scalar(acc, ep);
  }
}

}  // namespace ref
}  // namespace fastnn
