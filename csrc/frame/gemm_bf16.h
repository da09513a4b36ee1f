// The AMX bf16 product (frame side; kernel: csrc/kernels/avx512/gemm_bf16_amx.cpp). Used by the
// bf16 GEMM (gemm.cpp sgemm_bf16) and the bf16 convolution (conv2d.cpp) when bf16_use_amx().
//
//   C (m x n, row stride ldc) = act(alpha * A @ B + beta * C + bias)
//
// A: bf16 rows (AmxA: converted once per call, rows padded to 32 and k to kp = a multiple of 32,
// zeros in the padding). B: produced a 32-column panel at a time by the caller's packer
// pack(j0, nn, dst) writing rows [0, k) x columns [j0, j0+nn) as k steps of 32 floats (the f32
// panel layout of pack_b_f32 with nr = 32, zero past nn); the panel is rewritten in place as
// bf16 pair words, padded with zero pairs to kp / 2 steps, and multiplied by every 32-row block
// of A while it is in cache. Work items are (panel, run of row blocks); each thread packs its own
// panel copy, so items need no barrier. threaded = false: on the calling thread only (a conv's
// per-image call inside its own parallel region).
#pragma once
#include "gemm_driver.h"

namespace fastnn {

namespace avx512 {
void bf16_amx_block_32x32(int64_t kb, const uint16_t* a, int64_t a_rs, const uint32_t* b,
                          float* acc, bool two_rows, bool two_cols);
// The pair panel (steps words x 32, 64-byte aligned dst) of taps p < k at columns
// [j0, j0 + nn) (nn <= 32): word (q, i) = bf16(xp[off[2q] + j0 + i]) | bf16(xp[off[2q+1] + j0 +
// i]) << 16, zero for i >= nn, 2q + 1 >= k (that half) and 2q >= k. Reads nothing at i >= nn.
void bf16_amx_pack_taps(const float* xp, const int64_t* off, int64_t k, int64_t j0, int64_t nn,
                        int64_t steps, uint32_t* dst);
}

// A converted to bf16 rows (see above).
struct AmxA {
  aligned_ptr<uint16_t> buf;
  int64_t m = 0, k = 0, kp = 0;
  AmxA(const MatView& a, bool threaded);
  const uint16_t* row(int64_t i) const { return buf.get() + i * kp; }
};

// Runs the product; pack_panel(j0, nn, float* dst) as described above (must not throw).
// pairs: the packer writes the finished pair panel itself (kp / 2 steps of 32 words, zero
// padded), as bf16_amx_pack_taps does; nothing is converted after it.
void bf16_amx_gemm_run(const AmxA& a, int64_t n, float* c, int64_t ldc, float alpha, float beta,
                       const float* bias, const Epilogue& ep, bool threaded,
                       void (*pack)(const void* ctx, int64_t j0, int64_t nn, float* dst),
                       const void* ctx, bool pairs = false);

template <class PackPanel>
void bf16_amx_gemm(const AmxA& a, int64_t n, const PackPanel& pack_panel, float* c, int64_t ldc,
                   float alpha, float beta, const float* bias, const Epilogue& ep, bool threaded,
                   bool pairs = false) {
  bf16_amx_gemm_run(
      a, n, c, ldc, alpha, beta, bias, ep, threaded,
      [](const void* ctx, int64_t j0, int64_t nn, float* dst) {
        (*static_cast<const PackPanel*>(ctx))(j0, nn, dst);
      },
      &pack_panel, pairs);
}

}  // namespace fastnn
