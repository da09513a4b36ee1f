// Implementation of sgemm_driver (a template so packers inline). Included by gemm_driver.h only.
#pragma once
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

template <class PackA, class PackB>
void sgemm_driver(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b,
                  float* c, int64_t ldc, float alpha, float beta, const float* bias,
                  const Epilogue& ep) {
  if (m <= 0 || n <= 0) return;
  const KernelTable& t = kernels();
  const int mr = t.f32_mr, nr = t.f32_nr;
  const bool needs_epilogue = bias != nullptr || ep.act != Act::none;
  if (k <= 0) {
    // Empty inner dimension: the product is zero; C = act(beta*C + bias).
    for (int64_t i = 0; i < m; ++i) {
      float* ci = c + i * ldc;
      if (beta == 0.0f) std::fill(ci, ci + n, 0.0f);
    }
    if (needs_epilogue) {
      for (int64_t i = 0; i < m; i += mr)
        for (int64_t j = 0; j < n; j += nr)
          t.f32_epilogue(c + i * ldc + j, ldc, std::min<int64_t>(mr, m - i),
                         std::min<int64_t>(nr, n - j), bias ? bias + j : nullptr, ep);
    }
    return;
  }
  const int nthreads = std::max(1, get_num_threads());
  const GemmBlocking blk = f32_blocking(t, m, n, k, nthreads);
  const int64_t nc_max = std::min(blk.nc, ((n + nr - 1) / nr) * nr);
  const int64_t kc_max = std::min(blk.kc, k);
  const int64_t mc_max = std::min(blk.mc, ((m + mr - 1) / mr) * mr);

  aligned_ptr<float> bbuf = aligned_alloc_array<float>(static_cast<size_t>(kc_max * nc_max));
  float* bp = bbuf.get();
  const int64_t n_ic = (m + mc_max - 1) / mc_max;

#pragma omp parallel num_threads(nthreads)
  {
    aligned_ptr<float> abuf = aligned_alloc_array<float>(static_cast<size_t>(mc_max * kc_max));
    float* ap = abuf.get();
    for (int64_t jc = 0; jc < n; jc += nc_max) {
      const int64_t nc = std::min(nc_max, n - jc);
      const int64_t n_panels = (nc + nr - 1) / nr;
      for (int64_t pc = 0; pc < k; pc += kc_max) {
        const int64_t kc = std::min(kc_max, k - pc);
        const bool first = pc == 0, last = pc + kc >= k;
        // All threads pack B cooperatively, one nr-panel at a time.
#pragma omp for schedule(static)
        for (int64_t jp = 0; jp < n_panels; ++jp) {
          const int64_t j0 = jp * nr;
          pack_b(pc, jc + j0, kc, std::min<int64_t>(nr, nc - j0), bp + jp * kc * nr);
        }
        // implicit barrier: B is packed
#pragma omp for schedule(dynamic, 1)
        for (int64_t ib = 0; ib < n_ic; ++ib) {
          const int64_t ic = ib * mc_max;
          const int64_t mc = std::min(mc_max, m - ic);
          pack_a(ic, pc, mc, kc, ap);
          for (int64_t jr = 0; jr < nc; jr += nr) {
            const int64_t nn = std::min<int64_t>(nr, nc - jr);
            const float* bpanel = bp + (jr / nr) * kc * nr;
            for (int64_t ir = 0; ir < mc; ir += mr) {
              const int64_t mm = std::min<int64_t>(mr, mc - ir);
              float* ct = c + (ic + ir) * ldc + (jc + jr);
              const int accumulate = first ? (beta != 0.0f) : 1;
              t.f32_gemm_ukr(kc, ap + (ir / mr) * kc * mr, bpanel, ct, ldc, mm, nn, alpha, accumulate);
              if (last && needs_epilogue)
                t.f32_epilogue(ct, ldc, mm, nn, bias ? bias + jc + jr : nullptr, ep);
            }
          }
        }
        // implicit barrier before B is repacked
      }
    }
  }
}

}  // namespace fastnn
