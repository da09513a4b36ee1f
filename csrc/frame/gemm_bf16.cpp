// bf16 mixed-precision products (kernel_table.h "[bf16 GEMM]"): whether the native kernel may run,
// the rounding of arrays and the in-place conversion of packed float panels into bf16 pair panels
// (shared by every bf16 packer: gemm.cpp, conv2d.cpp), and the AMX product (gemm_bf16.h).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"
#include "gemm_bf16.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

bool bf16_native_usable() {
  const char* e = std::getenv("FASTNN_NO_BF16");
  const bool off = e && *e && std::strcmp(e, "0") != 0;
#ifdef FASTNN_BUILT_BF16
  return cpu_features().avx512bf16 && !off;
#else
  (void)off;
  return false;
#endif
}

void bf16_round_array(const float* x, float* y, int64_t n) {
  const int nt = n >= (int64_t(1) << 18) ? get_num_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t b = 0; b < (n + 4095) / 4096; ++b) {
    const int64_t i0 = b * 4096, len = std::min<int64_t>(4096, n - i0);
    uint32_t u[4096];  // plain integers: the loop vectorises
    std::memcpy(u, x + i0, 4 * len);
    for (int64_t i = 0; i < len; ++i) u[i] = bf16_round_bits(u[i]) << 16;
    std::memcpy(y + i0, u, 4 * len);
  }
}

// Word (q, i) is written after both its floats -- (2q, i) and (2q+1, i), at or after it in the
// panel -- were read, and every float before it was read at an earlier step: in place is safe.
// Each step goes through a small local buffer (the compiler then needs no aliasing proof).
void bf16_pair_panels(float* buf, int64_t panels, int64_t kc, int w) {
  const int64_t steps = (kc + 1) / 2;
  for (int64_t pnl = 0; pnl < panels; ++pnl) {
    float* panel = buf + pnl * kc * w;
    for (int i0 = 0; i0 < w; i0 += 64) {
      const int wn = std::min(64, w - i0);
      for (int64_t q = 0; q < steps; ++q) {
        uint32_t lo[64], hi[64] = {};  // hi stays zero past an odd kc
        std::memcpy(lo, panel + 2 * q * w + i0, 4 * wn);
        if (2 * q + 1 < kc) std::memcpy(hi, panel + (2 * q + 1) * w + i0, 4 * wn);
        for (int i = 0; i < wn; ++i) lo[i] = bf16_round_bits(lo[i]) | (bf16_round_bits(hi[i]) << 16);
        std::memcpy(panel + q * w + i0, lo, 4 * wn);
      }
    }
  }
}

}  // namespace fastnn

// ---- the AMX bf16 product (gemm_bf16.h) ----------------------------------------------------------
namespace fastnn {

bool bf16_use_amx() {
  return bf16_amx_mode() != S8AmxMode::off && kernels().isa == Isa::avx512 && bf16_amx_usable();
}

AmxA::AmxA(const MatView& a, bool threaded) : m(a.rows), k(a.cols) {
  kp = std::max<int64_t>(32, (k + 31) / 32 * 32);
  const int64_t mp = (m + 31) / 32 * 32;
  buf = aligned_alloc_array<uint16_t>(static_cast<size_t>(mp * kp));
  uint16_t* d = buf.get();
  const int nt = threaded && m * k >= (int64_t(1) << 15) ? get_num_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t i = 0; i < mp; ++i) {
    uint16_t* di = d + i * kp;
    if (i >= m) {
      std::memset(di, 0, sizeof(uint16_t) * kp);
      continue;
    }
    const float* src = a.data + i * a.rs;
    if (a.cs == 1)
      for (int64_t p = 0; p < k; ++p) di[p] = f32_to_bf16_bits(src[p]);
    else
      for (int64_t p = 0; p < k; ++p) di[p] = f32_to_bf16_bits(src[p * a.cs]);
    std::memset(di + k, 0, sizeof(uint16_t) * (kp - k));
  }
}

void bf16_amx_gemm_run(const AmxA& a, int64_t n, float* c, int64_t ldc, float alpha, float beta,
                       const float* bias, const Epilogue& ep, bool threaded,
                       void (*pack)(const void* ctx, int64_t j0, int64_t nn, float* dst),
                       const void* ctx, bool pairs) {
#ifdef FASTNN_BUILT_AMX
  const int64_t m = a.m, k = a.k, kp = a.kp, steps = kp / 2;
  if (m <= 0 || n <= 0) return;
  const KernelTable& t = kernels();
  const bool needs_epilogue = bias != nullptr || ep.act != Act::none;
  const int64_t nb = (n + 31) / 32, mb = (m + 31) / 32;
  // Threads: about 4 MFLOP of products or 32K elements of B to pack each, at least (a small
  // batch is mostly packing); items = panels x runs of row blocks.
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const int64_t useful = std::max(static_cast<int64_t>(flops / 4.0e6), k * n / 32768);
  int nt = 1;
#ifdef _OPENMP
  if (threaded && !omp_in_parallel())
    nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), useful)));
#endif
  const int64_t runs = std::min<int64_t>(mb, std::max<int64_t>(1, (2 * nt + nb - 1) / nb));
  const int64_t items = nb * runs;
  // One panel slot per thread: the float panel (k x 32) before its in-place rewrite, at least
  // the pair panel (steps x 32 words).
  const int64_t slot = (std::max(k, steps) * 32 + 15) / 16 * 16;
  float* panels = thread_scratch(ScratchSlot::gemm_b, static_cast<size_t>(slot * nt));
  auto item = [&](int64_t it, float* panel, int64_t& packed) {
    alignas(64) float acc[32 * 32];
    const int64_t jb = it / runs, run = it % runs;
    const int64_t j0 = jb * 32, nn = std::min<int64_t>(32, n - j0);
    if (packed != jb) {
      pack(ctx, j0, nn, panel);
      if (!pairs) {
        bf16_pair_panels(panel, 1, k, 32);
        const int64_t have = (k + 1) / 2;
        std::memset(panel + have * 32, 0, sizeof(float) * 32 * (steps - have));
      }
      packed = jb;
    }
    const int64_t rb0 = run * mb / runs, rb1 = (run + 1) * mb / runs;
    for (int64_t rb = rb0; rb < rb1; ++rb) {
      const int64_t i0 = rb * 32, mm = std::min<int64_t>(32, m - i0);
      avx512::bf16_amx_block_32x32(kp / 32, a.row(i0), kp * 2,
                                   reinterpret_cast<const uint32_t*>(panel), acc, mm > 16,
                                   nn > 16);
      for (int64_t i = 0; i < mm; ++i) {
        float* ci = c + (i0 + i) * ldc + j0;
        const float* ai = acc + i * 32;
        if (beta != 0.0f)
          for (int64_t j = 0; j < nn; ++j) ci[j] = alpha * ai[j] + beta * ci[j];
        else
          for (int64_t j = 0; j < nn; ++j) ci[j] = alpha * ai[j];
      }
      if (needs_epilogue)
        t.f32_epilogue(c + i0 * ldc + j0, ldc, mm, nn, bias ? bias + j0 : nullptr, ep);
    }
  };
  // (No orphaned worksharing on one thread: called inside a conv's parallel region, it would
  // bind to that team.)
  if (nt == 1) {
    int64_t packed = -1;
    avx512::u8s8_amx_configure();
    for (int64_t it = 0; it < items; ++it) item(it, panels, packed);
    avx512::u8s8_amx_release();
  } else {
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
      float* panel = panels + slot * omp_get_thread_num();
#else
      float* panel = panels;
#endif
      int64_t packed = -1;
      avx512::u8s8_amx_configure();
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) item(it, panel, packed);
      avx512::u8s8_amx_release();
    }
  }
#else
  (void)a, (void)n, (void)c, (void)ldc, (void)alpha, (void)beta, (void)bias, (void)ep;
  (void)threaded, (void)pack, (void)ctx, (void)pairs;
  throw std::logic_error("bf16_amx_gemm_run: built without AMX");
#endif
}

}  // namespace fastnn
