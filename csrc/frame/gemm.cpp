// f32 GEMM: argument checks, packing of strided operands, cache blocking, and the public entry
// points. The loop nest itself is sgemm_driver (gemm_driver.h); leaf kernels come from kernels().
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "gemm_bf16.h"
#include "gemm_driver.h"
#include "parallel_blocks.h"
#include "parallel_blocks.h"

namespace fastnn {

float* thread_scratch(ScratchSlot slot, size_t count) {
  struct Buffer {
    aligned_ptr<float> data;
    size_t count = 0;
  };
  thread_local Buffer buffers[static_cast<int>(ScratchSlot::count)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (b.count < count) {
    b.data.reset();  // free first: the old and new buffer never coexist
    b.count = 0;
    b.data = aligned_alloc_array<float>(count);
    b.count = count;
  }
  return b.data.get();
}

namespace {

// The narrow tile's FMA rate relative to the main tile's when both are full (measured in L1 on the
// AVX-512 tiles: 28x16 ~ 91% of peak against 14x32 ~ 97%): it must fill its lanes that much better
// to be chosen.
constexpr double kNarrowTileRate = 0.93;

double lane_fill(int64_t x, int r) { return double(x) / double(((x + r - 1) / r) * r); }

}  // namespace

F32GemmTile f32_choose_tile(const KernelTable& t, int64_t m, int64_t n) {
  const F32GemmTile main{t.f32_mr, t.f32_nr, t.f32_gemm_ukr};
  const F32GemmTile& narrow = t.f32_gemm_narrow;
  if (!narrow.ukr) return main;
  const double e_main = lane_fill(m, main.mr) * lane_fill(n, main.nr);
  const double e_narrow = kNarrowTileRate * lane_fill(m, narrow.mr) * lane_fill(n, narrow.nr);
  return e_narrow > e_main ? narrow : main;
}

namespace {
// A quarter of the per-core L2 cache in floats (sysconf where the C library knows it, else of
// 1 MiB); FASTNN_GEMM_L2_BYTES overrides the cache size.
int64_t l2_quarter_floats() {
  static const int64_t v = [] {
    long l2 = -1;
    if (const char* e = std::getenv("FASTNN_GEMM_L2_BYTES")) l2 = std::atol(e);
#ifdef _SC_LEVEL2_CACHE_SIZE
    if (l2 <= 0) l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l2 <= 0) l2 = 1 << 20;
    return static_cast<int64_t>(l2) / 4 / static_cast<int64_t>(sizeof(float));
  }();
  return v;
}
}  // namespace

GemmPlan f32_plan(const KernelTable& t, const F32GemmTile& tile, int64_t m, int64_t n, int64_t k,
                  int nthreads) {
  const int64_t mr = tile.mr, nr = tile.nr;
  GemmPlan p;
  // kc: k split into equal blocks of at most f32_kc (784 -> 2 x 392 rather than 384 + 384 + 16):
  // a short last block would pay a full pass over C for little work.
  const int64_t kc_max = t.f32_kc;
  const int64_t nk = (k + kc_max - 1) / kc_max;
  p.kc = (k + nk - 1) / nk;
  // nc: a kc x nc B block of about f32_kc x f32_nc floats (sits in L3).
  const int64_t nc_elems = static_cast<int64_t>(t.f32_kc) * t.f32_nc;
  p.nc = std::max<int64_t>(nr, (nc_elems / p.kc) / nr * nr);
  // mc: an mc x kc A block of about f32_mc x f32_kc floats (sits in L2).
  const int64_t mc_elems = static_cast<int64_t>(t.f32_kc) * t.f32_mc;
  const int64_t rows_per_block = std::max<int64_t>(1, (mc_elems / p.kc) / mr);  // in tile rows
  const int64_t mt = (m + mr - 1) / mr;
  p.n_ic = (mt + rows_per_block - 1) / rows_per_block;
  p.n_slices = 1;

  // Tiny products do not pay for waking threads: about 1 MFLOP per thread at least.
  static const double min_flops = [] {
    const char* e = std::getenv("FASTNN_GEMM_MFLOP_PER_THREAD");
    const double v = e ? std::atof(e) : 0.0;
    return v > 0.0 ? v * 1.0e6 : 1.0e6;
  }();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  int64_t useful = static_cast<int64_t>(flops / min_flops);
  p.nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nthreads, useful)));
  if (p.nthreads > 1) {
    const int64_t nth = p.nthreads;
    if (mt >= 4 * nth) {
      // Enough tile rows: whole M blocks per thread, their count a multiple of the threads so
      // every thread gets the same number of (equal +-1 tile row) blocks.
      p.n_ic = (p.n_ic + nth - 1) / nth * nth;
    } else {
      // Few tile rows (e.g. a batch of 128 on many threads): also split each block's columns.
      const int64_t n_panels = (std::min(p.nc, n) + nr - 1) / nr;
      p.n_slices = std::max<int64_t>(1, std::min<int64_t>(n_panels, (nth + p.n_ic - 1) / p.n_ic));
    }
  }
  p.mc_max = ((mt + p.n_ic - 1) / p.n_ic) * mr;
  // At most one M block per thread (a short A: m = 64 output channels of a 1x1 convolution, a
  // batch of 128): each packed B panel then meets one A block, so an L3-sized B block only
  // makes the panels come back from L3 after packing. A B block of a quarter of the L2 cache
  // stays there: measured (Xeon, 2 MiB L2, one thread) 64 x 256 x 3136 from 107 to 150 GFLOP/s,
  // 64 x 576 x 3136 107 -> 143, 128 x 512 x 256 169 -> 180; two threads 187 -> 217 and
  // 185 -> 200; larger m (several A blocks per thread, 1024^3) keeps the L3-sized block.
  if (p.n_ic <= p.nthreads) {
    const int64_t nc = std::max<int64_t>(nr, l2_quarter_floats() / p.kc / nr * nr);
    if (nc < p.nc) {
      p.nc = nc;
      if (p.n_slices > 1)
        p.n_slices = std::max<int64_t>(1, std::min<int64_t>((std::min(p.nc, n) + nr - 1) / nr,
                                                            p.n_slices));
    }
  }
  return p;
}

void pack_a_f32(const MatView& a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr,
                float* dst) {
  kernels().f32_pack_panels(a.data + i0 * a.rs + p0 * a.cs, a.rs, a.cs, mc, kc, mr, dst);
}

void pack_b_f32(const MatView& b, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr,
                float* dst) {
  kernels().f32_pack_panels(b.data + p0 * b.rs + j0 * b.cs, b.cs, b.rs, nc, kc, nr, dst);
}

// Whole-operand packing (the weights of a convolution): panels in blocks of at least 64K floats
// shared among the threads, so a large layer's weights are not packed on one core while the
// other threads wait (ResNet-50 at batch 1: 12% of the run was this packing, serial).
namespace {
template <class PackPanels>
void pack_whole(int64_t panels, int64_t panel_floats, const PackPanels& pack) {
  const int64_t block = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, panel_floats));
  parallel_blocks(panels, block, pack);
}
}  // namespace

void pack_a_f32_whole(const MatView& a, int mr, float* dst) {
  if (a.rows <= 0 || a.cols <= 0) return;
  pack_whole((a.rows + mr - 1) / mr, a.cols * mr, [&](int64_t q0, int64_t q1) {
    pack_a_f32(a, q0 * mr, 0, std::min(a.rows, q1 * mr) - q0 * mr, a.cols, mr, dst + q0 * a.cols * mr);
  });
}

void pack_b_f32_whole(const MatView& b, int nr, float* dst) {
  if (b.rows <= 0 || b.cols <= 0) return;
  pack_whole((b.cols + nr - 1) / nr, b.rows * nr, [&](int64_t q0, int64_t q1) {
    pack_b_f32(b, 0, q0 * nr, b.rows, std::min(b.cols, q1 * nr) - q0 * nr, nr, dst + q0 * b.rows * nr);
  });
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

// A few rows times a weight read in place (B = W^T with W row-major: b.rs == 1): no packing of
// B, which for a batch of 1 to kGemvRows would cost more than the product. Threads split the
// output columns when the weight is large. The bf16 products take the same rows path (the
// bf16_gemv_rows leaf) up to the same count, measured (Xeon, AMX; 784 x 512 and 3136 x 128
// weights): at 4 rows it took 119 / 133 us against AMX's 122 / 126 on 2 threads, 182 / 176
// against 224 / 231 on one; at 8 rows AMX won (122 against 239 us), being then bound by packing
// the weight.
constexpr int64_t kGemvRows = 4;

bool gemv_fits(const GemmArgs& g) {
  return g.a.rows <= kGemvRows && g.b.rs == 1 && g.a.cs == 1 && g.a.cols >= 1 && g.b.cols >= 1;
}

void sgemm_rows(const GemmArgs& g) {
  const KernelTable& t = kernels();
  const MatView a = g.a, b = g.b;
  const int64_t k = a.cols, n = b.cols;
  constexpr int64_t kBlock = 64;  // output columns per work item
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const bool needs_epilogue = g.bias != nullptr || g.ep.act != Act::none;
  const int nt = (k * n >= (int64_t(1) << 16)) ? static_cast<int>(std::min<int64_t>(
                                                     get_num_threads(), blocks))
                                               : 1;
  // bf16: each row of A rounded once (any stride), B rounded as the bf16_gemv_rows leaf reads it.
  const f32_gemv_rows_fn leaf = g.bf16 ? t.bf16_gemv_rows : t.f32_gemv_rows;
  std::vector<float> xr(g.bf16 ? static_cast<size_t>(k) : 0);
  for (int64_t i = 0; i < a.rows; ++i) {
    float* ci = g.c + i * g.ldc;
    const float* xi = a.data + i * a.rs;
    if (g.bf16) {
      for (int64_t p = 0; p < k; ++p) xr[p] = bf16_rounded(a.data[i * a.rs + p * a.cs]);
      xi = xr.data();
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t j0 = blk * kBlock, nb = std::min(kBlock, n - j0);
      float acc[kBlock];
      leaf(b.data + j0 * b.cs, b.cs, xi, k, nb, acc);
      for (int64_t j = 0; j < nb; ++j)
        ci[j0 + j] = g.alpha * acc[j] + (g.beta != 0.0f ? ci[j0 + j] : 0.0f);
      if (needs_epilogue) t.f32_epilogue(ci + j0, g.ldc, 1, nb, g.bias ? g.bias + j0 : nullptr, g.ep);
    }
  }
}

}  // namespace

namespace {
// The packed product through sgemm_driver: f32 panels, rewritten as bf16 pair panels and run
// with the bf16 tile when g.bf16.
void sgemm_packed(const GemmArgs& g) {
  const MatView a = g.a, b = g.b;
  const bool bf16 = g.bf16;
  sgemm_driver(
      a.rows, b.cols, a.cols,
      [&](int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr, float* dst) {
        pack_a_f32(a, i0, p0, mc, kc, mr, dst);
        if (bf16) bf16_pair_panels(dst, (mc + mr - 1) / mr, kc, mr);
      },
      [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst) {
        pack_b_f32(b, p0, j0, kc, nc, nr, dst);
        if (bf16) bf16_pair_panels(dst, (nc + nr - 1) / nr, kc, nr);
      },
      g.c, g.ldc, g.alpha, g.beta, g.bias, g.ep, bf16 ? &kernels().bf16_gemm : nullptr);
}
}  // namespace

void sgemm_bf16(const GemmArgs& g);

void sgemm(const GemmArgs& g) {
  check(g);
  if (g.bf16) return sgemm_bf16(g);
  if (gemv_fits(g)) return sgemm_rows(g);
  sgemm_packed(g);
}

float apply_act(float x, const Epilogue& ep);

void sgemm_bf16(const GemmArgs& g) {  // (checked by sgemm)
  const MatView a = g.a, b = g.b;
  if (a.rows <= kGemvRows && b.rs == 1 && a.cols >= 1 && b.cols >= 1) return sgemm_rows(g);
  if (bf16_use_amx()) {
    const AmxA abf(a, true);
    bf16_amx_gemm(
        abf, b.cols,
        [&](int64_t j0, int64_t nn, float* dst) { pack_b_f32(b, 0, j0, a.cols, nn, 32, dst); },
        g.c, g.ldc, g.alpha, g.beta, g.bias, g.ep, true);
    return;
  }
  sgemm_packed(g);
}

void sgemm_reference(const GemmArgs& g) {
  check(g);
  // bf16: each operand rounded to bfloat16 (the products are then exact in double).
  auto rounded = [&](float v) { return g.bf16 ? bf16_rounded(v) : v; };
  for (int64_t i = 0; i < g.a.rows; ++i)
    for (int64_t j = 0; j < g.b.cols; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < g.a.cols; ++p)
        acc += double(rounded(g.a.data[i * g.a.rs + p * g.a.cs])) *
               double(rounded(g.b.data[p * g.b.rs + j * g.b.cs]));
      float* cij = g.c + i * g.ldc + j;
      float v = g.alpha * float(acc) + (g.beta != 0.0f ? *cij : 0.0f);
      if (g.bias) v += g.bias[j];
      *cij = apply_act(v, g.ep);
    }
}

}  // namespace fastnn
