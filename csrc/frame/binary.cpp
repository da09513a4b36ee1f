// Binary layer frame: sign packing, the XNOR-popcount GEMM (path chosen from fastnn's active ISA
// and the CPU's VPOPCNTDQ bit) and the float-input x packed-sign GEMM. Rows split over threads.
#include <cstring>
#include <vector>

#include "fastnn/binary.h"
#include "fastnn/ops.h"

namespace fastnn {
namespace binary {

bool vpopcntdq_supported() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512vpopcntdq");
#else
  return false;
#endif
}

XorPopFn xor_popcount_kernel(const char** name) {
  const Isa isa = active_isa();
  XorPopFn fn = &ref::xor_popcount;
  const char* nm = "generic";
#ifdef FASTNN_BUILT_AVX2
  if (isa >= Isa::avx2) { fn = &avx2::xor_popcount; nm = "avx2"; }
#endif
#ifdef FASTNN_BUILT_AVX512
  if (isa >= Isa::avx512 && vpopcntdq_supported()) { fn = &avx512::xor_popcount; nm = "avx512"; }
#endif
  (void)isa;
  if (name) *name = nm;
  return fn;
}

void pack_signs(const float* x, int64_t rows, int64_t K, uint64_t* out) {
  const int64_t W = (K + 63) / 64;
#pragma omp parallel for schedule(static) if (rows * K > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * K;
    uint64_t* o = out + r * W;
    for (int64_t w = 0; w < W; ++w) {
      const int64_t k0 = w * 64, k1 = k0 + 64 < K ? k0 + 64 : K;
      uint64_t bits = 0;
      for (int64_t k = k0; k < k1; ++k) bits |= static_cast<uint64_t>(xr[k] < 0.0f) << (k - k0);
      o[w] = bits;
    }
  }
}

void xnor_gemm(const uint64_t* a, const uint64_t* b, int64_t M, int64_t N, int64_t K,
               const float* alpha, const float* bias, float* out) {
  const int64_t W = (K + 63) / 64;
  const XorPopFn fn = xor_popcount_kernel();
  const int64_t mb = 4;  // rows of a per task: the b panel is reused from cache across them
#pragma omp parallel
  {
    std::vector<int32_t> pop(static_cast<size_t>(mb * N));
#pragma omp for schedule(dynamic)
    for (int64_t m0 = 0; m0 < M; m0 += mb) {
      const int64_t rows = M - m0 < mb ? M - m0 : mb;
      fn(a + m0 * W, b, rows, N, W, pop.data());
      for (int64_t i = 0; i < rows; ++i) {
        float* o = out + (m0 + i) * N;
        const int32_t* p = pop.data() + i * N;
        for (int64_t n = 0; n < N; ++n)
          o[n] = alpha[n] * static_cast<float>(K - 2 * static_cast<int64_t>(p[n])) +
                 (bias ? bias[n] : 0.0f);
      }
    }
  }
}

void sign_gemm_f32(const float* x, const uint64_t* b, int64_t M, int64_t N, int64_t K,
                   const float* alpha, const float* bias, float* out) {
  const int64_t W = (K + 63) / 64;
#pragma omp parallel for schedule(static) if (M * N * K > (1 << 16))
  for (int64_t m = 0; m < M; ++m) {
    const float* xm = x + m * K;
    float total = 0.0f;
    for (int64_t k = 0; k < K; ++k) total += xm[k];
    for (int64_t n = 0; n < N; ++n) {
      const uint64_t* bn = b + n * W;
      float neg = 0.0f;
      for (int64_t w = 0; w < W; ++w)
        for (uint64_t bits = bn[w]; bits; bits &= bits - 1) neg += xm[w * 64 + __builtin_ctzll(bits)];
      out[m * N + n] = alpha[n] * (total - 2.0f * neg) + (bias ? bias[n] : 0.0f);
    }
  }
}

void ternary_gemm_f32(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M,
                      int64_t N, int64_t K, const float* alpha, const float* bias, float* out) {
  const int64_t W = (K + 63) / 64;
#pragma omp parallel for schedule(static) if (M * N * K > (1 << 16))
  for (int64_t m = 0; m < M; ++m) {
    const float* xm = x + m * K;
    for (int64_t n = 0; n < N; ++n) {
      const uint64_t *pn = pos + n * W, *nn = neg + n * W;
      float p = 0.0f, q = 0.0f;
      for (int64_t w = 0; w < W; ++w) {
        for (uint64_t bits = pn[w]; bits; bits &= bits - 1) p += xm[w * 64 + __builtin_ctzll(bits)];
        for (uint64_t bits = nn[w]; bits; bits &= bits - 1) q += xm[w * 64 + __builtin_ctzll(bits)];
      }
      out[m * N + n] = alpha[n] * (p - q) + (bias ? bias[n] : 0.0f);
    }
  }
}

}  // namespace binary
}  // namespace fastnn
