// Binary (XNOR-Net) kernels: popcount(a[m] ^ b[n]) over packed 64-bit sign words.
// Bit layout: bit k%64 of word k/64 is 1 when value k is negative (sign(0) = +1 -> bit 0);
// padding bits past K are 0 in both operands so they never count.
#pragma once
#include <cstdint>

#include "fastnn/conv_params.h"

namespace fastnn {
namespace binary {

// out[m*N + n] = sum_w popcount(a[m*W + w] ^ b[n*W + w]) for m < M, n < N.
using XorPopFn = void (*)(const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t W,
                          int32_t* out);

namespace ref { void xor_popcount(const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int32_t*); }
namespace avx2 { void xor_popcount(const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int32_t*); }
namespace avx512 { void xor_popcount(const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int32_t*); }

// Signed sums over bit-planes, additions only: for m < M, n in [n0, n1),
//   out[m * ldo + n] = sum_k s(n, k) x[m * K + k],   s = +1 at the bits of pos row n, -1 at the
// bits of neg row n, 0 elsewhere; pos == nullptr means every k < K not in neg (binary weights).
// Planes are W = ceil(K / 64) words per row, bits past K zero; x rows are read only below K.
using PlaneSumFn = void (*)(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M,
                            int64_t n0, int64_t n1, int64_t K, float* out, int64_t ldo);

namespace ref { void plane_sums(const float*, const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int64_t, float*, int64_t); }
namespace avx2 { void plane_sums(const float*, const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int64_t, float*, int64_t); }
namespace avx512 { void plane_sums(const float*, const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int64_t, float*, int64_t); }

// The path for fastnn's active ISA ("generic" | "avx2" | "avx512"); avx512 needs VPOPCNTDQ.
XorPopFn xor_popcount_kernel(const char** name = nullptr);
// The plane-sum path for fastnn's active ISA ("generic" | "avx2" | "avx512").
PlaneSumFn plane_sum_kernel(const char** name = nullptr);
bool vpopcntdq_supported();

void pack_signs(const float* x, int64_t rows, int64_t K, uint64_t* out);
// out[m, n] = alpha[n] * (K - 2 popcount(a[m] ^ b[n])) + bias[n] (bias may be null).
void xnor_gemm(const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t K,
               const float* alpha, const float* bias, float* out);
// Float x (M x K) times packed signs (N x K): out[m, n] = alpha[n] * sum_k s[n,k] x[m,k] + bias[n],
// by adding / subtracting x (sum x - 2 * sum over negative signs).
void sign_gemm_f32(const float* x, const uint64_t* b, int64_t M, int64_t N, int64_t K,
                   const float* alpha, const float* bias, float* out);

// Packed sign bits of the im2col rows of a float NCHW batch x (N, C, H, W): one row per output
// pixel (n, oh, ow), K = kh * kw * C bits in (tap i, tap j, channel) order, bit = 1 where the
// value is negative; taps in the padding get `pad_bit`; bits past K are 0. out: (N*OH*OW, W).
struct BitIm2col : Window2d {
  int64_t n = 0, c = 0, h = 0, w = 0;
};
void im2col_sign_bits(const float* x, const BitIm2col& g, bool pad_bit, uint64_t* out);

// Float x (M x K) times ternary weights held as two disjoint bit-planes (N x K each): bit k of
// row n of `pos` marks t[n,k] = +1, of `neg` marks t[n,k] = -1, neither 0.
// out[m, n] = alpha[n] * (sum over pos x - sum over neg x) + bias[n]: additions only.
void ternary_gemm_f32(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M,
                      int64_t N, int64_t K, const float* alpha, const float* bias, float* out);

}  // namespace binary
}  // namespace fastnn
