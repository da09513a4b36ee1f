// Packing of a block of f32 GEMM micro-panels (contract: f32_pack_panels_fn in kernel_table.h), one
// body for every ISA: included inside namespace fastnn::<isa> after that ISA's `struct Vec`
// (vec_*.h) and `struct PackIo`, its partial loads/stores:
//   PackIo::Tail            a lane count as the ISA's partial loads/stores take it (count or mask);
//   PackIo::tail(n)         the Tail of lanes [0, n), n clipped to [0, kWidth];
//   PackIo::load(p, t)      lanes t of p, the others zero and not read;
//   PackIo::store(p, v, t)  lanes t of v to p, the other lanes of p untouched;
//   PackIo::kSpillStores    whether the transposing path may store whole vectors into the next
//                           slot of a panel narrower than kWidth (where partial stores are slow).
//
// Three source layouts, one body each, tails by partial loads/stores:
//   s_i == 1  the values of one k step are contiguous (row-major B, A given transposed): each
//             source line is swept once, kWidth lanes at a time, into all the panels.
//   s_p == 1  each line is contiguous along k (row-major A, or B given transposed): per panel,
//             kWidth lines x kWidth steps are loaded, transposed in registers, stored as kWidth steps.
//   other     strided gather, element by element (only non-contiguous views take it).

namespace {

// The transposing path reads up to kWidth lines at once, one vector of each per step: more
// concurrent streams than the hardware prefetchers follow, so it stalls on memory when the source
// is not cached (a 12544 x 288 im2col-sized A). Prefetching each line 3 cache lines ahead hides
// that latency (measured: ~1.8x faster packing of such an A from DRAM). Prefetches never fault.
constexpr int kPrefetchAhead = 48;  // floats

}  // namespace

void f32_pack_panels(const float* src, int64_t s_i, int64_t s_p, int64_t count, int64_t kc, int w,
                     float* dst) {
  constexpr int W = Vec::kWidth;
  const int64_t n_panels = (count + w - 1) / w;
  if (s_i == 1) {
    // One sweep along each source line p (sequential reads), spread over the panels.
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = src + p * s_p;
      for (int64_t jp = 0; jp < n_panels; ++jp) {
        float* d = dst + jp * kc * w + p * w;
        const int64_t i0 = jp * w;
        for (int i = 0; i < w; i += W)
          PackIo::store(d + i, PackIo::load(s + i0 + i, PackIo::tail(count - i0 - i)), PackIo::tail(w - i));
      }
    }
  } else if (s_p == 1) {
    // Per panel: kWidth lines x kWidth steps at a time, transposed in registers.
    for (int64_t jp = 0; jp < n_panels; ++jp) {
      const float* s = src + jp * w * s_i;
      float* d = dst + jp * kc * w;
      const int64_t valid = count - jp * w;  // lines of this panel present in the source
      for (int64_t p = 0; p < kc; p += W) {
        const int64_t steps = kc - p < W ? kc - p : W;
        const PackIo::Tail kmask = PackIo::tail(steps);
        for (int i0 = 0; i0 < w; i0 += W) {
          Vec::F r[W];
          for (int i = 0; i < W; ++i) {
            if (i0 + i >= valid) {
              r[i] = Vec::zero();
              continue;
            }
            const float* line = s + (i0 + i) * s_i + p;
            if (W >= 16 || (p & 15) == 0)  // once per 64-byte line
              _mm_prefetch(reinterpret_cast<const char*>(line + kPrefetchAhead), _MM_HINT_T0);
            r[i] = PackIo::load(line, kmask);
          }
          Vec::transpose(r);
          if constexpr (PackIo::kSpillStores) {
            for (int64_t q = 0; q < steps; ++q) {
              // A panel narrower than kWidth (w = mr = 6 at 8 lanes) stores whole vectors: the
              // extra lanes land in the next step's (or next panel's) slot, which is written after
              // this one. Only the block's very last step stores exactly w lanes.
              const bool spill_ok = w <= W && (jp + 1 < n_panels || p + q + 1 < kc);
              PackIo::store(d + (p + q) * w + i0, r[q], PackIo::tail(spill_ok ? W : w - i0));
            }
          } else {
            const PackIo::Tail wmask = PackIo::tail(w - i0);
            for (int64_t q = 0; q < steps; ++q) PackIo::store(d + (p + q) * w + i0, r[q], wmask);
          }
        }
      }
    }
  } else {
    for (int64_t jp = 0; jp < n_panels; ++jp) {
      const int64_t valid = std::min<int64_t>(w, count - jp * w);
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + jp * kc * w + p * w;
        const float* s = src + jp * w * s_i + p * s_p;
        int64_t i = 0;
        for (; i < valid; ++i) d[i] = s[i * s_i];
        for (; i < w; ++i) d[i] = 0.0f;
      }
    }
  }
}
