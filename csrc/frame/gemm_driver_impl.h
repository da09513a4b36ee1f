// Implementation of sgemm_driver (a template so packers inline). Included by gemm_driver.h only.
//
// Threading (docs/kernels.md): for each (jc, pc) block all threads pack the B block together, in
// runs of micro-panels; after a barrier the (M block x column slice) work items are shared
// dynamically, each thread packing the A block of its item into its own buffer. Every C tile is
// computed by one ukr call per k block, in increasing pc order, whoever runs it: the result bits do
// not depend on the thread count.
#pragma once
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace gemm_detail {

// Largest B (k x n, in floats) packed whole up front for a multi-threaded product (4 MiB: the MLP
// layers' weights; beyond that the per-K-block B blocks keep the packed data cache-sized).
constexpr int64_t kWholeBFloats = int64_t(1) << 20;

template <class Pack>
constexpr bool takes_width() {
  return std::is_invocable_v<const Pack&, int64_t, int64_t, int64_t, int64_t, int, float*>;
}

}  // namespace gemm_detail

template <class PackA, class PackB>
void sgemm_driver(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b,
                  float* c, int64_t ldc, float alpha, float beta, const float* bias,
                  const Epilogue& ep, const F32GemmTile* forced_tile) {
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

  if (forced_tile && !(kWidthA && kWidthB)) std::abort();  // a contract error, not input
  const F32GemmTile tile = forced_tile            ? *forced_tile
                           : (kWidthA && kWidthB) ? f32_choose_tile(t, m, n)
                                                  : F32GemmTile{t.f32_mr, t.f32_nr, t.f32_gemm_ukr};
  const int mr = tile.mr, nr = tile.nr;
  const f32_gemm_ukr_fn ukr = tile.ukr;
  const f32_epilogue_fn epilogue = t.f32_epilogue;
  const GemmPlan plan = f32_plan(t, tile, m, n, k, std::max(1, get_num_threads()));
  const int64_t mt = (m + mr - 1) / mr;         // tile rows
  const int64_t n_items = plan.n_ic * plan.n_slices;
  const int64_t nc_pad = ((std::min(plan.nc, n) + nr - 1) / nr) * nr;
  const int64_t n_kb = (k + plan.kc - 1) / plan.kc;  // K blocks
  // When B packs whole (every K block of the one N block) into a modest buffer, pack it all at
  // once: a team then meets at one barrier per product instead of two per K block. On a machine
  // with more runnable threads than cores each barrier can cost a scheduler time slice.
  const bool b_whole = n <= plan.nc && plan.nthreads > 1 && k * nc_pad <= gemm_detail::kWholeBFloats;
  const int64_t b_floats = b_whole ? n_kb * plan.kc * nc_pad : plan.kc * nc_pad;
  // All buffers come from the calling thread, before any parallel region: an allocation failure
  // then throws here (an exception must never leave an OpenMP region). Each thread's A block
  // starts on a 64-byte boundary.
  const int64_t a_floats = (plan.mc_max * plan.kc + 15) / 16 * 16;
  float* bbuf = thread_scratch(ScratchSlot::gemm_b, static_cast<size_t>(b_floats));
  float* abuf = thread_scratch(ScratchSlot::gemm_a, static_cast<size_t>(a_floats * plan.nthreads));

  auto call_pack_a = [&](int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst) {
    if constexpr (kWidthA && kWidthB) pack_a(i0, p0, mc, kc, mr, dst);
    else pack_a(i0, p0, mc, kc, dst);
  };
  auto call_pack_b = [&](int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst) {
    if constexpr (kWidthA && kWidthB) pack_b(p0, j0, kc, nc, nr, dst);
    else pack_b(p0, j0, kc, nc, dst);
  };
  // Packs B rows [pc, pc+kc) x columns [jc, jc+nc) into bp: runs of whole micro-panels, a few per
  // thread, shared dynamically (a descheduled thread then holds up the others less).
  const int64_t runs_per_block = plan.nthreads == 1 ? 1 : 4 * plan.nthreads;
  auto pack_b_run = [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t run, int64_t runs,
                        float* bp) {
    const int64_t n_panels = (nc + nr - 1) / nr;
    const int64_t jp0 = run * n_panels / runs, jp1 = (run + 1) * n_panels / runs;
    if (jp1 > jp0)
      call_pack_b(pc, jc + jp0 * nr, kc, std::min(jp1 * nr, nc) - jp0 * nr, bp + jp0 * kc * nr);
  };
  // One work item for one K block: M block `blk` (its A block packed into ap unless it already
  // is) times the micro-panels of column slice `slice` of the packed B block bp.
  auto compute_item = [&](int64_t item, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
                          const float* bp, float* ap, int64_t& packed) {
    const int64_t blk = item / plan.n_slices, slice = item % plan.n_slices;
    const int64_t tr0 = blk * mt / plan.n_ic, tr1 = (blk + 1) * mt / plan.n_ic;
    const int64_t ic = tr0 * mr, mc = std::min(tr1 * mr, m) - ic;
    const bool last = pc + kc >= k;
    const int accumulate = pc == 0 ? (beta != 0.0f) : 1;
    if (blk != packed) {
      call_pack_a(ic, pc, mc, kc, ap);
      packed = blk;
    }
    const int64_t n_panels = (nc + nr - 1) / nr;
    const int64_t jp0 = slice * n_panels / plan.n_slices;
    const int64_t jp1 = (slice + 1) * n_panels / plan.n_slices;
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t jr = jp * nr, nn = std::min<int64_t>(nr, nc - jr);
      const float* bpanel = bp + jp * kc * nr;
      for (int64_t ir = 0; ir < mc; ir += mr) {
        const int64_t mm = std::min<int64_t>(mr, mc - ir);
        float* ct = c + (ic + ir) * ldc + (jc + jr);
        ukr(kc, ap + (ir / mr) * kc * mr, bpanel, ct, ldc, mm, nn, alpha, accumulate);
        if (last && needs_epilogue) epilogue(ct, ldc, mm, nn, bias ? bias + jc + jr : nullptr, ep);
      }
    }
  };

  // The loop nest run by every thread of the team; its worksharing loops are orphaned, so with
  // one thread it runs on the caller without entering a parallel region at all.
  auto run = [&]() {
#ifdef _OPENMP
    float* ap = abuf + a_floats * (plan.nthreads > 1 ? omp_get_thread_num() : 0);
#else
    float* ap = abuf;
#endif
    if (b_whole) {
      // All of B, then every item runs its K blocks in order: one barrier in all.
#pragma omp for schedule(dynamic, 1)
      for (int64_t r = 0; r < n_kb * runs_per_block; ++r) {
        const int64_t kb = r / runs_per_block, pc = kb * plan.kc;
        pack_b_run(pc, std::min(plan.kc, k - pc), 0, n, r % runs_per_block, runs_per_block,
                   bbuf + kb * plan.kc * nc_pad);
      }
      // implicit barrier: B is packed
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t item = 0; item < n_items; ++item) {
        int64_t packed = -1;
        for (int64_t kb = 0; kb < n_kb; ++kb) {
          const int64_t pc = kb * plan.kc;
          packed = -1;  // a new K block needs its A block packed again
          compute_item(item, pc, std::min(plan.kc, k - pc), 0, n, bbuf + kb * plan.kc * nc_pad,
                       ap, packed);
        }
      }
      return;  // (the end of the parallel region joins the team)
    }
    for (int64_t jc = 0; jc < n; jc += plan.nc) {
      const int64_t nc = std::min(plan.nc, n - jc);
      for (int64_t pc = 0; pc < k; pc += plan.kc) {
        const int64_t kc = std::min(plan.kc, k - pc);
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < runs_per_block; ++r) pack_b_run(pc, kc, jc, nc, r, runs_per_block, bbuf);
        // implicit barrier: the B block is packed
        int64_t packed = -1;  // the M block this thread's A buffer holds for this K block
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < n_items; ++item) compute_item(item, pc, kc, jc, nc, bbuf, ap, packed);
        // implicit barrier before the B block is repacked
      }
    }
  };
  // run() holds orphaned worksharing loops: they bind to the innermost enclosing team. Called
  // from inside a caller's parallel region (conv2d runs one GEMM per thread over its images),
  // they must get a team of their own, or the caller's threads would split one another's loops.
#ifdef _OPENMP
  const bool nested = omp_in_parallel() != 0;
#else
  const bool nested = false;
#endif
  if (plan.nthreads == 1 && !nested) {
    run();
  } else {
#pragma omp parallel num_threads(nested ? 1 : plan.nthreads)
    run();
  }
}

}  // namespace fastnn
