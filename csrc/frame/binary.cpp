// Binary layer frame: sign packing, the XNOR-popcount GEMM (path chosen from fastnn's active ISA
// and the CPU's VPOPCNTDQ bit) and the float-input x packed-sign GEMM. Rows split over threads.
#include <cstring>
#include <vector>

#include "fastnn/binary.h"
#include "fastnn/ops.h"

// The address of an ISA's function where that ISA is compiled in, else null (never picked).
#ifdef FASTNN_BUILT_AVX2
#define FASTNN_AVX2_OR_NULL(f) (&f)
#else
#define FASTNN_AVX2_OR_NULL(f) nullptr
#endif
#ifdef FASTNN_BUILT_AVX512
#define FASTNN_AVX512_OR_NULL(f) (&f)
#else
#define FASTNN_AVX512_OR_NULL(f) nullptr
#endif

namespace fastnn {
namespace binary {

bool vpopcntdq_supported() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512vpopcntdq");
#else
  return false;
#endif
}

namespace {

// The path of a binary kernel family for fastnn's active ISA (the avx512 one only where the
// CPU has the extra feature it needs); its name in *name.
template <class Fn>
Fn pick(Fn generic, Fn on_avx2, Fn on_avx512, bool avx512_ok, const char** name) {
  const Isa isa = active_isa();
  Fn fn = generic;
  const char* nm = "generic";
#ifdef FASTNN_BUILT_AVX2
  if (isa >= Isa::avx2) { fn = on_avx2; nm = "avx2"; }
#endif
#ifdef FASTNN_BUILT_AVX512
  if (isa >= Isa::avx512 && avx512_ok) { fn = on_avx512; nm = "avx512"; }
#endif
  (void)isa, (void)on_avx2, (void)on_avx512, (void)avx512_ok;
  if (name) *name = nm;
  return fn;
}

}  // namespace

XorPopFn xor_popcount_kernel(const char** name) {
  return pick<XorPopFn>(&ref::xor_popcount, FASTNN_AVX2_OR_NULL(avx2::xor_popcount),
                        FASTNN_AVX512_OR_NULL(avx512::xor_popcount), vpopcntdq_supported(), name);
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

PlaneSumFn plane_sum_kernel(const char** name) {
  return pick<PlaneSumFn>(&ref::plane_sums, FASTNN_AVX2_OR_NULL(avx2::plane_sums),
                          FASTNN_AVX512_OR_NULL(avx512::plane_sums), true, name);
}

namespace {

// out = alpha[n] * plane sums + bias[n], tiles of 8 rows x 64 columns over threads (the rows of
// a tile reuse each plane row from cache; a batch of 1 still splits over columns).
void plane_gemm(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M, int64_t N,
                int64_t K, const float* alpha, const float* bias, float* out) {
  const PlaneSumFn fn = plane_sum_kernel();
  const int64_t mb = 8, nb = 64, tm = (M + mb - 1) / mb, tn = (N + nb - 1) / nb;
#pragma omp parallel for schedule(static) if (M * N * K > (1 << 16))
  for (int64_t t = 0; t < tm * tn; ++t) {
    const int64_t m0 = t / tn * mb, n0 = t % tn * nb;
    const int64_t m1 = m0 + mb < M ? m0 + mb : M, n1 = n0 + nb < N ? n0 + nb : N;
    fn(x + m0 * K, pos, neg, m1 - m0, n0, n1, K, out + m0 * N, N);
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = n0; n < n1; ++n)
        out[m * N + n] = alpha[n] * out[m * N + n] + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace

void sign_gemm_f32(const float* x, const uint64_t* b, int64_t M, int64_t N, int64_t K,
                   const float* alpha, const float* bias, float* out) {
  plane_gemm(x, nullptr, b, M, N, K, alpha, bias, out);
}

namespace {

// dst (zeroed) gets the low `nbits` bits of the word stream src appended at bit `pos`.
inline void append_bits(uint64_t* dst, int64_t pos, const uint64_t* src, int64_t nbits) {
  for (int64_t done = 0; done < nbits; done += 64) {
    const int64_t take = nbits - done < 64 ? nbits - done : 64;
    uint64_t v = src[done / 64];
    if (take < 64) v &= (uint64_t{1} << take) - 1;
    const int64_t at = pos + done, off = at % 64;
    dst[at / 64] |= v << off;
    if (off != 0 && off + take > 64) dst[at / 64 + 1] |= v >> (64 - off);
  }
}

}  // namespace

void im2col_sign_bits(const float* x, const BitIm2col& g, bool pad_bit, uint64_t* out) {
  const int64_t cw = (g.c + 63) / 64, hw = g.h * g.w;
  const int64_t K = g.kh * g.kw * g.c, W = (K + 63) / 64, rows = g.oh * g.ow;
  // pass 1: each pixel's channel signs as cw words; blocks of pixels over threads, each block
  // reading every channel plane contiguously; branch-free (signs are random: no mispredictions)
  std::vector<uint64_t> pix(static_cast<size_t>(g.n * hw * cw), 0);
  std::vector<uint64_t> pad(static_cast<size_t>(cw), pad_bit ? ~uint64_t{0} : 0);
  const int64_t blk = 512, nblk = (hw + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (g.n * g.c * hw > (1 << 16))
  for (int64_t t = 0; t < g.n * nblk; ++t) {
    const int64_t n = t / nblk, i0 = (t % nblk) * blk, i1 = i0 + blk < hw ? i0 + blk : hw;
    for (int64_t c = 0; c < g.c; ++c) {
      const float* plane = x + (n * g.c + c) * hw;
      uint64_t* dst = pix.data() + n * hw * cw + c / 64;
      const int sh = static_cast<int>(c % 64);
      for (int64_t i = i0; i < i1; ++i)
        dst[i * cw] |= static_cast<uint64_t>(plane[i] < 0.0f) << sh;
    }
  }
  // pass 2: each output pixel's row, tap by tap
#pragma omp parallel for schedule(static) if (g.n * rows * W > (1 << 14))
  for (int64_t r = 0; r < g.n * rows; ++r) {
    const int64_t n = r / rows, oh = (r % rows) / g.ow, ow = r % g.ow;
    uint64_t* row = out + r * W;
    for (int64_t w = 0; w < W; ++w) row[w] = 0;
    int64_t pos = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = oh * g.sh - g.ph + i * g.dh;
      for (int64_t j = 0; j < g.kw; ++j, pos += g.c) {
        const int64_t iw = ow * g.sw - g.pw + j * g.dw;
        const bool in = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
        append_bits(row, pos, in ? pix.data() + (n * hw + ih * g.w + iw) * cw : pad.data(), g.c);
      }
    }
  }
}

void ternary_gemm_f32(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M,
                      int64_t N, int64_t K, const float* alpha, const float* bias, float* out) {
  plane_gemm(x, pos, neg, M, N, K, alpha, bias, out);
}

}  // namespace binary
}  // namespace fastnn
