// Implementation of sgemm_driver (a template so packers inline). Included by gemm_driver.h only.
//
// Threading (docs/kernels.md): for each (jc, pc) block all threads pack the B block together, in
// runs of micro-panels; after a barrier the (M block x column slice) work items are shared
// dynamically, each thread packing the A block of its item into its own buffer. Every C tile is
// computed by one ukr call per k block, in increasing pc order, whoever runs it: the result bits do
// not depend on the thread count.
#pragma once
#include <algorithm>

namespace fastnn {

namespace gemm_detail {

template <class Pack>
constexpr bool takes_width() {
  return std::is_invocable_v<const Pack&, int64_t, int64_t, int64_t, int64_t, int, float*>;
}

}  // namespace gemm_detail

template <class PackA, class PackB>
void sgemm_driver(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b,
                  float* c, int64_t ldc, float alpha, float beta, const float* bias,
                  const Epilogue& ep) {
  constexpr bool kWidthA = gemm_detail::takes_width<PackA>();
  constexpr bool kWidthB = gemm_detail::takes_width<PackB>();
  static_assert(kWidthA || std::is_invocable_v<const PackA&, int64_t, int64_t, int64_t, int64_t, float*>,
                "pack_a must be callable as (i0, p0, mc, kc, [mr,] dst)");
  static_assert(kWidthB || std::is_invocable_v<const PackB&, int64_t, int64_t, int64_t, int64_t, float*>,
                "pack_b must be callable as (p0, j0, kc, nc, [nr,] dst)");
  if (m <= 0 || n <= 0) return;
  const KernelTable& t = kernels();
  const bool needs_epilogue = bias != nullptr || ep.act != Act::none;
  if (k <= 0) {
    // Empty inner dimension: the product is zero; C = act(beta*C + bias).
    if (beta == 0.0f)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    if (needs_epilogue) t.f32_epilogue(c, ldc, m, n, bias, ep);
    return;
  }

  const F32GemmTile tile = (kWidthA && kWidthB) ? f32_choose_tile(t, m, n)
                                                : F32GemmTile{t.f32_mr, t.f32_nr, t.f32_gemm_ukr};
  const int mr = tile.mr, nr = tile.nr;
  const f32_gemm_ukr_fn ukr = tile.ukr;
  const f32_epilogue_fn epilogue = t.f32_epilogue;
  const GemmPlan plan = f32_plan(t, tile, m, n, k, std::max(1, get_num_threads()));
  const int64_t mt = (m + mr - 1) / mr;         // tile rows
  const int64_t n_items = plan.n_ic * plan.n_slices;
  const int64_t nc_alloc = std::min(plan.nc, ((n + nr - 1) / nr) * nr);
  float* bp = thread_scratch(ScratchSlot::gemm_b, static_cast<size_t>(plan.kc * nc_alloc));

  auto call_pack_a = [&](int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) {
    if constexpr (kWidthA && kWidthB) pack_a(i0, p0, mc, kc, mr, dst);
    else pack_a(i0, p0, mc, kc, dst);
  };
  auto call_pack_b = [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
    if constexpr (kWidthA && kWidthB) pack_b(p0, j0, kc, nc, nr, dst);
    else pack_b(p0, j0, kc, nc, dst);
  };

  // The loop nest run by every thread of the team; its worksharing loops are orphaned, so with
  // one thread it runs on the caller without entering a parallel region at all.
  auto run = [&]() {
    float* ap = thread_scratch(ScratchSlot::gemm_a, static_cast<size_t>(plan.mc_max * plan.kc));
    for (int64_t jc = 0; jc < n; jc += plan.nc) {
      const int64_t nc = std::min(plan.nc, n - jc);
      const int64_t n_panels = (nc + nr - 1) / nr;
      for (int64_t pc = 0; pc < k; pc += plan.kc) {
        const int64_t kc = std::min(plan.kc, k - pc);
        const bool last = pc + kc >= k;
        const int accumulate = pc == 0 ? (beta != 0.0f) : 1;
        // Runs of whole micro-panels, a few per thread, shared dynamically (a descheduled thread
        // on a busy machine then delays the others less).
        const int64_t b_runs = std::min<int64_t>(n_panels, plan.nthreads == 1 ? 1 : 4 * plan.nthreads);
#pragma omp for schedule(dynamic, 1)
        for (int64_t run = 0; run < b_runs; ++run) {
          const int64_t jp0 = run * n_panels / b_runs, jp1 = (run + 1) * n_panels / b_runs;
          call_pack_b(pc, jc + jp0 * nr, kc, std::min(jp1 * nr, nc) - jp0 * nr, bp + jp0 * kc * nr);
        }
        // implicit barrier: the B block is packed
        int64_t packed_block = -1;  // the M block this thread's A buffer holds for this pc
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < n_items; ++item) {
          const int64_t blk = item / plan.n_slices, slice = item % plan.n_slices;
          const int64_t tr0 = blk * mt / plan.n_ic, tr1 = (blk + 1) * mt / plan.n_ic;
          const int64_t ic = tr0 * mr, mc = std::min(tr1 * mr, m) - ic;
          if (blk != packed_block) {
            call_pack_a(ic, pc, mc, kc, ap);
            packed_block = blk;
          }
          const int64_t jp0 = slice * n_panels / plan.n_slices;
          const int64_t jp1 = (slice + 1) * n_panels / plan.n_slices;
          for (int64_t jp = jp0; jp < jp1; ++jp) {
            const int64_t jr = jp * nr, nn = std::min<int64_t>(nr, nc - jr);
            const float* bpanel = bp + jp * kc * nr;
            for (int64_t ir = 0; ir < mc; ir += mr) {
              const int64_t mm = std::min<int64_t>(mr, mc - ir);
              float* ct = c + (ic + ir) * ldc + (jc + jr);
              ukr(kc, ap + (ir / mr) * kc * mr, bpanel, ct, ldc, mm, nn, alpha, accumulate);
              if (last && needs_epilogue)
                epilogue(ct, ldc, mm, nn, bias ? bias + jc + jr : nullptr, ep);
            }
          }
        }
        // implicit barrier before the B block is repacked
      }
    }
  };
  if (plan.nthreads == 1) {
    run();
  } else {
#pragma omp parallel num_threads(plan.nthreads)
    run();
  }
}

}  // namespace fastnn
