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

bool s8_vnni_usable() {
  if (!cpu_features().avx512vnni) return false;
  const char* e = std::getenv("FASTNN_NO_VNNI");
  return !(e && *e && std::string(e) != "0");
}

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
  p.storage.assign(p.bytes + 64, 0);  // zero: the padding columns and k
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

  const bool direct = kg == 0 || g.pack_a == 0 ||
                      (g.pack_a == -1 && g.a_cs == 1 && g.k % kS8KG == 0);
  const int64_t mr = t.s8_mr;
  const RowTiles tiles(m, mr);
  int nthreads = std::max(1, g.threads > 0 ? g.threads : get_num_threads());
  // A block of row tiles stays in L2 (~256 KiB) while the panels stream past it; every thread
  // gets at least one block when there are enough tiles.
  const int64_t tile_bytes = mr * kg * kS8KG;
  int64_t per_block = std::max<int64_t>(1, (256 << 10) / std::max<int64_t>(1, tile_bytes));
  per_block = std::min(per_block, (tiles.count + nthreads - 1) / nthreads);
  const int64_t n_rb = (tiles.count + per_block - 1) / per_block;
  // Too few row blocks for the threads (small m): split the panels into chunks as well.
  int64_t per_chunk = panels;
  if (nthreads > 1 && n_rb < 2 * nthreads) {
    const int64_t want = std::min<int64_t>(panels, (2 * nthreads + n_rb - 1) / n_rb);
    per_chunk = (panels + want - 1) / want;
  }
  const int64_t n_cc = (panels + per_chunk - 1) / per_chunk;
  const int64_t ntasks = n_rb * n_cc;
  nthreads = static_cast<int>(std::min<int64_t>(nthreads, ntasks));

  // Packed-A buffers, one per thread, allocated before the parallel region (no throw inside it).
  std::vector<aligned_ptr<uint8_t>> abufs;
  if (!direct)
    for (int i = 0; i < nthreads; ++i)
      abufs.push_back(aligned_alloc_array<uint8_t>(static_cast<size_t>(per_block * tile_bytes)));
  const int8_t* bdata = pw.data();
  const s8_gemm_ukr_fn ukr = t.s8_gemm_ukr;

  // One task: pack its A block (unless read in place), then every panel of its chunk across the
  // block's row tiles.
  auto run_task = [&](int64_t task, uint8_t* abuf) {
    const int64_t rb = task / n_cc, cc = task % n_cc;
    const int64_t t0 = rb * per_block, t1 = std::min(t0 + per_block, tiles.count);
    if (!direct) {
      uint8_t* dst = abuf;
      for (int64_t tt = t0; tt < t1; ++tt) {
        pack_a_tile(g, tiles.start(tt), tiles.height(tt), kg, dst);
        dst += tiles.height(tt) * kg * kS8KG;
      }
    }
    const int64_t p0 = cc * per_chunk, p1 = std::min(p0 + per_chunk, panels);
    for (int64_t pp = p0; pp < p1; ++pp) {
      const int64_t j0 = pp * kS8NR;
      const int64_t nn = std::min<int64_t>(kS8NR, n - j0);
      S8Epilogue ept = ep;
      ept.offset += j0;
      ept.scale += j0;
      ept.shift += j0;
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
  };
  if (nthreads == 1) {  // no parallel region: small (batch-1) calls skip the team start-up
    for (int64_t task = 0; task < ntasks; ++task) run_task(task, direct ? nullptr : abufs[0].get());
    return;
  }
#pragma omp parallel num_threads(nthreads)
  {
#ifdef _OPENMP
    uint8_t* abuf = direct ? nullptr : abufs[omp_get_thread_num()].get();
#else
    uint8_t* abuf = direct ? nullptr : abufs[0].get();
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntasks; ++task) run_task(task, abuf);
  }
}

}  // namespace fastnn
