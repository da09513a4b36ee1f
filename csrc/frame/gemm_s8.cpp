// u8 x s8 -> s32 GEMM: weight packing, argument checks, requantisation constants, blocking and
// threading. Leaf kernels come from kernels() (s8_gemm_ukr); their contract and the packed layout
// are in kernel_table.h and docs/int8_gemm.md.
//
// Loop order (per task = a block of row tiles x a chunk of 32-column panels):
//   for each panel (B micro-panel: kg*128 bytes, stays in L1/L2 across the row tiles)
//     for each row tile (<= s8_mr rows, A read in place or from the task's packed block)
//       one kernel call over the whole K: int32 accumulators never leave registers, and the
//       epilogue (zero point, bias, scales, ReLU, rounding, saturation) runs on the finished tile.
// No K blocking: int8 panels are 4x denser than f32 ones, so a 32 x K panel fits L1 up to K ~ 1k
// and L2 far beyond, and a K split would need an int32 scratch C. Output elements are computed by
// exactly one kernel call each, so results do not depend on the thread count or schedule.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"
#include "gemm_driver.h"  // aligned_alloc_array

namespace fastnn {

namespace {
bool env_set(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && std::string(e) != "0";
}
}  // namespace

bool s8_vnni_usable() { return cpu_features().avx512vnni && !env_set("FASTNN_NO_VNNI"); }

// (The AMX mode and usability: amx_mode.cpp.)

namespace {

std::string dims(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

constexpr int64_t kMaxAbsProduct = 255 * 128;  // |(a - za) * w| and |a * w| bound

int64_t panel_bytes(int64_t kg) { return kg * kS8NR * kS8KG; }

}  // namespace

S8PackedWeights pack_weights_s8(const int8_t* w, int64_t n, int64_t k, int64_t rs, int64_t cs) {
  if (n < 0 || k < 0)
    throw std::invalid_argument("w: negative shape " + dims(n, k));
  if (k > kS8MaxK)
    throw std::invalid_argument("w: k = " + std::to_string(k) + " exceeds " +
                                std::to_string(kS8MaxK) +
                                " (the int32 accumulator could overflow)");
  if (!w && n * k > 0) throw std::invalid_argument("w: null data for shape " + dims(n, k));
  S8PackedWeights p;
  p.n = n;
  p.k = k;
  p.kg = (k + kS8KG - 1) / kS8KG;
  p.isa = kernels().isa;
  const int64_t panels = (n + kS8NR - 1) / kS8NR;
  p.bytes = static_cast<size_t>(panels * panel_bytes(p.kg));
  // Zero: the padding columns and k, and the AMX kernel's reads past the last panel.
  p.storage.assign(p.bytes + 64 + kS8AmxTailBytes, 0);
  p.offset = static_cast<size_t>((64 - reinterpret_cast<uintptr_t>(p.storage.data()) % 64) % 64);
  int8_t* buf = p.storage.data() + p.offset;
  p.colsum.assign(static_cast<size_t>(n), 0);
  const int64_t kg = p.kg;
  int32_t* colsum = p.colsum.data();
#pragma omp parallel for schedule(static) num_threads(get_num_threads())
  for (int64_t pp = 0; pp < panels; ++pp) {
    int8_t* panel = buf + pp * panel_bytes(kg);
    for (int c = 0; c < kS8NR; ++c) {
      const int64_t j = pp * kS8NR + c;
      if (j >= n) break;
      const int8_t* row = w + j * rs;
      int32_t s = 0;
      for (int64_t q = 0; q < k; ++q) {
        const int8_t v = row[q * cs];
        s += v;
        panel[(q / kS8KG) * (kS8NR * kS8KG) + c * kS8KG + q % kS8KG] = v;
      }
      colsum[j] = s;
    }
  }
  return p;
}

void unpack_weights_s8(const S8PackedWeights& p, int8_t* w) {
  if (p.nr != kS8NR || p.kgroup != kS8KG)
    throw std::invalid_argument("packed: unknown layout");
  const int8_t* buf = p.data();
  for (int64_t j = 0; j < p.n; ++j) {
    const int8_t* panel = buf + (j / kS8NR) * panel_bytes(p.kg);
    const int64_t c = j % kS8NR;
    for (int64_t q = 0; q < p.k; ++q)
      w[j * p.k + q] = panel[(q / kS8KG) * (kS8NR * kS8KG) + c * kS8KG + q % kS8KG];
  }
}

namespace {

constexpr float kFloatMax = std::numeric_limits<float>::max();

// pred(v[j]) for every j, without early exit so the loop vectorises (NaN fails every comparison).
template <class Pred>
bool all_of(const float* v, int64_t n, Pred pred) {
  int ok = 1;
  for (int64_t j = 0; j < n; ++j) ok &= pred(v[j]) ? 1 : 0;
  return ok != 0;
}

void check(const S8GemmArgs& g, const KernelTable& t) {
  if (!g.b || g.b->storage.size() < g.b->offset + g.b->bytes)
    throw std::invalid_argument("packed: expected packed weights, got null");
  const S8PackedWeights& pw = *g.b;
  if (pw.nr != kS8NR || pw.kgroup != kS8KG || t.s8_mr <= 0)
    throw std::invalid_argument(
        std::string("packed: weights were packed for panels of ") + std::to_string(pw.nr) + " x " +
        std::to_string(pw.kgroup) + " but the active kernel (" + t.s8_gemm_name + ") reads " +
        std::to_string(kS8NR) + " x " + std::to_string(kS8KG) + "; pack them again");
  if (g.m < 0 || g.k < 0) throw std::invalid_argument("a: negative shape " + dims(g.m, g.k));
  if (g.k != pw.k)
    throw std::invalid_argument("a: expected shape (m, " + std::to_string(pw.k) +
                                ") to match the packed weights of shape (n, k) = " +
                                dims(pw.n, pw.k) + ", got " + dims(g.m, g.k));
  if (!g.a && g.m * g.k > 0) throw std::invalid_argument("a: null data");
  if (g.za < 0 || g.za > 255)
    throw std::invalid_argument("za: activation zero point must be in [0, 255], got " +
                                std::to_string(g.za));
  if (!g.c && g.m * pw.n > 0) throw std::invalid_argument("out: null data");
  if (g.ldc < pw.n) throw std::invalid_argument("out: row stride < n");
  if (g.out != S8Out::s32 && g.out != S8Out::f32 && g.out != S8Out::u8)
    throw std::invalid_argument("out_dtype: unknown output kind");
  if (g.pack_a == 0 && g.m * g.k > 0 && !(g.a_cs == 1 && g.k % kS8KG == 0))
    throw std::invalid_argument("a: cannot be read in place (needs contiguous rows and k % 4 == 0)");
  const int64_t bound = std::numeric_limits<int32_t>::max() - pw.k * kMaxAbsProduct;
  if (g.bias_i32)
    for (int64_t j = 0; j < pw.n; ++j)
      if (std::llabs(static_cast<long long>(g.bias_i32[j])) > bound)
        throw std::invalid_argument("bias_i32: |bias_i32[" + std::to_string(j) + "]| = " +
                                    std::to_string(std::llabs((long long)g.bias_i32[j])) +
                                    " exceeds " + std::to_string(bound) +
                                    ", the int32 accumulator could overflow at k = " +
                                    std::to_string(pw.k));
  if (g.out == S8Out::s32) {
    if (g.relu) throw std::invalid_argument("relu: not available for int32 output");
    return;
  }
  auto finite_pos = [](double v) { return std::isfinite(v) && v > 0.0; };
  if (!finite_pos(g.scale_a))
    throw std::invalid_argument("scale_a: must be finite and > 0, got " + std::to_string(g.scale_a));
  if (!g.scale_b && pw.n > 0)
    throw std::invalid_argument("scale_b: required for float32 / uint8 output");
  // Fast pass (vectorises), then the slow one only to name the first bad element.
  if (!all_of(g.scale_b, pw.n, [](float v) { return std::fabs(v) <= kFloatMax && v >= 0.0f; }))
    for (int64_t j = 0; j < pw.n; ++j)
      if (!(std::isfinite(g.scale_b[j]) && g.scale_b[j] >= 0.0f))
        throw std::invalid_argument("scale_b: must be finite and >= 0, got scale_b[" +
                                    std::to_string(j) + "] = " + std::to_string(g.scale_b[j]));
  if (g.bias_f32 && !all_of(g.bias_f32, pw.n, [](float v) { return std::fabs(v) <= kFloatMax; }))
    for (int64_t j = 0; j < pw.n; ++j)
      if (!std::isfinite(g.bias_f32[j]))
        throw std::invalid_argument("bias: must be finite, got bias[" + std::to_string(j) +
                                    "] = " + std::to_string(g.bias_f32[j]));
  if (g.out == S8Out::u8) {
    if (!finite_pos(g.scale_out))
      throw std::invalid_argument("scale_out: must be finite and > 0, got " +
                                  std::to_string(g.scale_out));
    if (g.z_out < 0 || g.z_out > 255)
      throw std::invalid_argument("z_out: output zero point must be in [0, 255], got " +
                                  std::to_string(g.z_out));
  }
}

// Row tiles of height <= mr covering m rows, heights differing by at most one (m = 128, mr = 14:
// ten tiles of 12-13 rows rather than nine of 14 and one of 2).
struct RowTiles {
  int64_t count = 0, base = 0, rem = 0;
  RowTiles(int64_t m, int64_t mr) : count((m + mr - 1) / mr) {
    base = count ? m / count : 0;
    rem = count ? m % count : 0;
  }
  int64_t start(int64_t t) const { return t * base + std::min(t, rem); }
  int64_t height(int64_t t) const { return base + (t < rem ? 1 : 0); }
};

// Packs rows [r0, r0 + h) of A into dst as kg groups of h x 4 bytes (a_rs = 4, a_gs = 4h),
// zero-filling k past the end of the rows.
void pack_a_tile(const S8GemmArgs& g, int64_t r0, int64_t h, int64_t kg, uint8_t* dst) {
  const int64_t kfull = g.k / kS8KG;
  for (int64_t i = 0; i < h; ++i) {
    const uint8_t* row = g.a + (r0 + i) * g.a_rs;
    uint8_t* d = dst + i * kS8KG;
    if (g.a_cs == 1) {
      for (int64_t q = 0; q < kfull; ++q) std::memcpy(d + q * h * kS8KG, row + q * kS8KG, kS8KG);
    } else {
      for (int64_t q = 0; q < kfull; ++q)
        for (int e = 0; e < kS8KG; ++e) d[q * h * kS8KG + e] = row[(q * kS8KG + e) * g.a_cs];
    }
    if (kfull < kg) {
      uint8_t* dt = d + kfull * h * kS8KG;
      for (int e = 0; e < kS8KG; ++e) {
        const int64_t p = kfull * kS8KG + e;
        dt[e] = p < g.k ? row[p * g.a_cs] : 0;
      }
    }
  }
}

// The tasks of one call: blocks of row tiles x chunks of panels. A block of row tiles stays in
// L2 (~256 KiB) while the panels stream past it; every thread gets at least one block when there
// are enough tiles; too few row blocks for the threads (small m): the panels split into chunks.
struct TaskGrid {
  int64_t tiles, per_block, n_rb, panels, per_chunk, n_cc, ntasks;
  int nthreads;
  TaskGrid(int64_t tiles_, int64_t tile_bytes, int64_t panels_, int threads)
      : tiles(tiles_), panels(panels_) {
    per_block = std::max<int64_t>(1, (256 << 10) / std::max<int64_t>(1, tile_bytes));
    per_block = std::min(per_block, (tiles + threads - 1) / threads);
    n_rb = (tiles + per_block - 1) / per_block;
    per_chunk = panels;
    if (threads > 1 && n_rb < 2 * threads) {
      const int64_t want = std::min<int64_t>(panels, (2 * threads + n_rb - 1) / n_rb);
      per_chunk = (panels + want - 1) / want;
    }
    n_cc = (panels + per_chunk - 1) / per_chunk;
    ntasks = n_rb * n_cc;
    nthreads = static_cast<int>(std::min<int64_t>(threads, ntasks));
  }
};

// Runs every task of the grid as fn(tile0, tile1, panel0, panel1, abuf), dynamically over the
// grid's threads; abuf: the thread's buffer of per_block * tile_bytes bytes (null unless packing).
// Output elements belong to exactly one task: results do not depend on the schedule.
template <class Fn>
void run_tasks(const TaskGrid& grid, int64_t tile_bytes, bool packing, const Fn& fn) {
  // Buffers allocated before the parallel region (no throw inside it).
  std::vector<aligned_ptr<uint8_t>> abufs;
  if (packing)
    for (int i = 0; i < grid.nthreads; ++i)
      abufs.push_back(
          aligned_alloc_array<uint8_t>(static_cast<size_t>(grid.per_block * tile_bytes)));
  auto task = [&](int64_t id, uint8_t* abuf) {
    const int64_t rb = id / grid.n_cc, cc = id % grid.n_cc;
    const int64_t t0 = rb * grid.per_block, t1 = std::min(t0 + grid.per_block, grid.tiles);
    const int64_t p0 = cc * grid.per_chunk, p1 = std::min(p0 + grid.per_chunk, grid.panels);
    fn(t0, t1, p0, p1, abuf);
  };
  if (grid.nthreads == 1) {  // no parallel region: small (batch-1) calls skip the team start-up
    for (int64_t id = 0; id < grid.ntasks; ++id) task(id, packing ? abufs[0].get() : nullptr);
    return;
  }
#pragma omp parallel num_threads(grid.nthreads)
  {
#ifdef _OPENMP
    uint8_t* abuf = packing ? abufs[omp_get_thread_num()].get() : nullptr;
#else
    uint8_t* abuf = packing ? abufs[0].get() : nullptr;
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t id = 0; id < grid.ntasks; ++id) task(id, abuf);
  }
}

S8Epilogue advanced(const S8Epilogue& ep, int64_t j0) {
  S8Epilogue e = ep;
  e.offset += j0;
  e.scale += j0;
  e.shift += j0;
  return e;
}

// Rows of A from which automatic mode takes the AMX path: below, a tile's 16 rows are mostly
// empty and the VNNI kernel (whose row tiles shrink to the rows there are) is faster (a sweep of
// m = 1..64 at k = 784, n = 512, 1 thread, Xeon with AMX: AMX 0.74x VNNI at m = 1, 1.12x at 4,
// 2.4x at 16; bench/compare.py quant gemm, docs/int8_gemm.md).
constexpr int64_t kS8AmxMinRows = 4;
// And from one whole panel of columns: with n <= 16 (a 10-class head) packing A costs more than
// the tiles save (0.8x VNNI at 128 x 256 x 10).
constexpr int64_t kS8AmxMinCols = 32;

bool use_amx(const S8GemmArgs& g, const KernelTable& t) {
  if (t.isa != Isa::avx512 || g.k == 0) return false;
  const S8AmxMode mode = s8_amx_mode();
  if (mode == S8AmxMode::off ||
      (mode == S8AmxMode::automatic && (g.m < kS8AmxMinRows || g.b->n < kS8AmxMinCols)))
    return false;
  // The kernel reads past the last panel: only weights packed with that tail (all of
  // pack_weights_s8's).
  return s8_amx_usable() &&
         g.b->storage.size() >= g.b->offset + g.b->bytes + static_cast<size_t>(kS8AmxTailBytes);
}

#ifdef FASTNN_BUILT_AMX
// k blocks [q0, q0 + nq) of rows [r0, r0 + h) (h <= 32) of A as two 16-row AMX tiles of nq
// 64-byte blocks each (block q of tile t at dst + (t * nq + q) * 1024, row r at + 64 r), zero
// past the rows and K.
void pack_a_amx(const S8GemmArgs& g, int64_t r0, int64_t h, int64_t q0, int64_t nq, uint8_t* dst) {
  if (h < 32 || (q0 + nq) * 64 > g.k) std::memset(dst, 0, static_cast<size_t>(2 * nq * 1024));
  for (int64_t i = 0; i < h; ++i) {
    const uint8_t* row = g.a + (r0 + i) * g.a_rs;
    uint8_t* d = dst + (i / 16) * nq * 1024 + (i % 16) * 64;
    for (int64_t q = 0; q < nq; ++q) {
      const int64_t k0 = (q0 + q) * 64, len = std::min<int64_t>(64, g.k - k0);
      uint8_t* dq = d + q * 1024;
      if (g.a_cs == 1) {
        std::memcpy(dq, row + k0, static_cast<size_t>(len));
      } else {
        for (int64_t e = 0; e < len; ++e) dq[e] = row[(k0 + e) * g.a_cs];
      }
    }
  }
}
#endif

}  // namespace

void gemm_u8s8(const S8GemmArgs& g) {
  const KernelTable& t = kernels();
  check(g, t);
  const S8PackedWeights& pw = *g.b;
  const int64_t m = g.m, n = pw.n, kg = pw.kg;
  if (m == 0 || n == 0) return;
  const int64_t panels = (n + kS8NR - 1) / kS8NR;
  const int64_t npad = panels * kS8NR;

  // Per-column epilogue constants, zero-padded to whole panels (kernels load full vectors).
  // One allocation for the three arrays (npad is a multiple of 16: each stays 64-byte aligned).
  aligned_ptr<int32_t> consts = aligned_alloc_array<int32_t>(static_cast<size_t>(3 * npad));
  int32_t* offset = consts.get();
  float* scale = reinterpret_cast<float*>(consts.get() + npad);
  float* shift = reinterpret_cast<float*>(consts.get() + 2 * npad);
  // Branch-free loops (they vectorise): this O(n) set-up is a visible share of a batch-1 call.
  const int32_t* bias_i32 = g.bias_i32;
  const int32_t* colsum = pw.colsum.data();
  const int64_t za = g.za;
  for (int64_t j = 0; j < n; ++j)  // |bias - za * colsum| <= INT32_MAX (checked bound): fits
    offset[j] = static_cast<int32_t>((bias_i32 ? int64_t(bias_i32[j]) : 0) - za * colsum[j]);
  if (g.out != S8Out::s32) {
    // s = scale_b * (scale_a / scale_out) and t = bias * (1 / scale_out) + z_out in float32
    // (f32 output: scale_out = 1, z_out = 0). Float arithmetic overflows to inf (defined, unlike
    // an out-of-range double -> float cast), which the OR-reduction catches; the loops vectorise.
    const double so = g.out == S8Out::u8 ? g.scale_out : 1.0;
    const double s_ab = double(g.scale_a) / so, inv_so = 1.0 / so;
    constexpr double kFltMaxD = std::numeric_limits<float>::max();
    if (!(s_ab <= kFltMaxD && inv_so <= kFltMaxD))
      throw std::invalid_argument("scale_out: scale_a / scale_out or 1 / scale_out overflows float32");
    const float s_abf = static_cast<float>(s_ab), inv_sof = static_cast<float>(inv_so);
    const float zo = g.out == S8Out::u8 ? static_cast<float>(g.z_out) : 0.0f;
    int over = 0;
    for (int64_t j = 0; j < n; ++j) {
      scale[j] = g.scale_b[j] * s_abf;
      over |= !(scale[j] <= kFloatMax);
    }
    if (g.bias_f32) {
      for (int64_t j = 0; j < n; ++j) {
        shift[j] = g.bias_f32[j] * inv_sof + zo;
        over |= !(std::fabs(shift[j]) <= kFloatMax);
      }
    } else {
      std::fill(shift, shift + n, zo);
    }
    if (over)
      throw std::invalid_argument("scale_out: a combined scale (scale_a * scale_b / scale_out) or "
                                  "shift (bias / scale_out + z_out) overflows float32");
  } else {
    std::fill(scale, scale + n, 0.0f);
    std::fill(shift, shift + n, 0.0f);
  }
  std::fill(offset + n, offset + npad, 0);
  std::fill(scale + n, scale + npad, 0.0f);
  std::fill(shift + n, shift + npad, 0.0f);
  S8Epilogue ep;
  ep.out = g.out;
  ep.offset = offset;
  ep.scale = scale;
  ep.shift = shift;
  ep.relu = g.relu ? 1 : 0;
  ep.lo = g.out == S8Out::u8 && g.relu ? float(g.z_out) : 0.0f;
  ep.hi = 255.0f;
  const size_t esize = g.out == S8Out::u8 ? 1 : 4;

  const int nthreads = std::max(1, g.threads > 0 ? g.threads : get_num_threads());
  const int8_t* bdata = pw.data();
  if (use_amx(g, t)) {
#ifdef FASTNN_BUILT_AMX
    // 32-row tiles (two 16-row A tiles) of 64-k blocks; the tile kernel covers a whole 32-column
    // panel per call. Row-major A is read in place by whole tiles and whole k blocks; the last
    // k block (K % 64) of those and the last row tile (m % 32) are packed per task.
    const int64_t kb = (g.k + 63) / 64;
    const bool in_place = g.a_cs == 1;
    const int64_t kb_in = g.k / 64;              // blocks read in place (whole row tiles)
    const bool k_tail = in_place && g.k % 64 != 0;
    const int64_t tile_bytes = 2 * kb * 1024;  // a packed row tile (enough for a tail block)
    const int64_t count = (m + 31) / 32;
    const TaskGrid grid(count, tile_bytes, panels, nthreads);
    auto whole = [&](int64_t tt) { return in_place && m - tt * 32 >= 32; };
    run_tasks(grid, tile_bytes, true, [&](int64_t t0, int64_t t1, int64_t p0, int64_t p1,
                                          uint8_t* abuf) {
      for (int64_t tt = t0; tt < t1; ++tt) {
        uint8_t* slot = abuf + (tt - t0) * tile_bytes;
        if (!whole(tt)) pack_a_amx(g, tt * 32, std::min<int64_t>(32, m - tt * 32), 0, kb, slot);
        else if (k_tail) pack_a_amx(g, tt * 32, 32, kb_in, 1, slot);
      }
      avx512::u8s8_amx_configure();
      for (int64_t pp = p0; pp < p1; ++pp) {
        const int64_t j0 = pp * kS8NR, nn = std::min<int64_t>(kS8NR, n - j0);
        const S8Epilogue ept = advanced(ep, j0);
        const int8_t* bpanel = bdata + pp * panel_bytes(kg);
        for (int64_t tt = t0; tt < t1; ++tt) {
          const int64_t r0 = tt * 32, h = std::min<int64_t>(32, m - r0);
          const uint8_t* slot = abuf + (tt - t0) * tile_bytes;
          void* ct = static_cast<char*>(g.c) + (r0 * g.ldc + j0) * static_cast<int64_t>(esize);
          if (whole(tt))
            avx512::u8s8_amx_tile_32x32(kb_in, g.a + r0 * g.a_rs, g.a_rs, 64, 16 * g.a_rs,
                                        k_tail ? slot : nullptr, h, bpanel, ct, g.ldc, nn, ept);
          else
            avx512::u8s8_amx_tile_32x32(kb, slot, 64, 1024, kb * 1024, nullptr, h, bpanel, ct,
                                        g.ldc, nn, ept);
        }
      }
      avx512::u8s8_amx_release();
    });
    return;
#endif
  }

  const bool direct = kg == 0 || g.pack_a == 0 ||
                      (g.pack_a == -1 && g.a_cs == 1 && g.k % kS8KG == 0);
  const int64_t mr = t.s8_mr;
  const RowTiles tiles(m, mr);
  const int64_t tile_bytes = mr * kg * kS8KG;
  const TaskGrid grid(tiles.count, tile_bytes, panels, nthreads);
  const s8_gemm_ukr_fn ukr = t.s8_gemm_ukr;
  // One task: pack its A block (unless read in place), then every panel of its chunk across the
  // block's row tiles.
  run_tasks(grid, tile_bytes, !direct, [&](int64_t t0, int64_t t1, int64_t p0, int64_t p1,
                                           uint8_t* abuf) {
    if (!direct) {
      uint8_t* dst = abuf;
      for (int64_t tt = t0; tt < t1; ++tt) {
        pack_a_tile(g, tiles.start(tt), tiles.height(tt), kg, dst);
        dst += tiles.height(tt) * kg * kS8KG;
      }
    }
    for (int64_t pp = p0; pp < p1; ++pp) {
      const int64_t j0 = pp * kS8NR;
      const int64_t nn = std::min<int64_t>(kS8NR, n - j0);
      const S8Epilogue ept = advanced(ep, j0);
      const int8_t* bpanel = bdata + pp * panel_bytes(kg);
      const uint8_t* ap = abuf;
      for (int64_t tt = t0; tt < t1; ++tt) {
        const int64_t r0 = tiles.start(tt), h = tiles.height(tt);
        void* ct = static_cast<char*>(g.c) + (r0 * g.ldc + j0) * static_cast<int64_t>(esize);
        if (direct) {
          const uint8_t* at = kg ? g.a + r0 * g.a_rs : g.a;  // k == 0: A is never read
          ukr(kg, at, g.a_rs, kS8KG, bpanel, ct, g.ldc, h, nn, ept);
        } else {
          ukr(kg, ap, kS8KG, h * kS8KG, bpanel, ct, g.ldc, h, nn, ept);
          ap += h * kg * kS8KG;
        }
      }
    }
  });
}

}  // namespace fastnn
