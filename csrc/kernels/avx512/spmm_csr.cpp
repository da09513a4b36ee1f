// AVX-512 CSR sparse x dense kernels ("sparse weights times dense activations", Elsen et al.;
// XNNPACK f32-spmm): the panel's columns (samples or pixels) are the vector dimension, so each
// stored weight is one broadcast and NV fused multiply-adds over a row of the dense panel.
//
// f32_spmm_csr_16x64: register tile = one output row x 64 panel columns (4 zmm); the row's entries
//   are dealt over several accumulator sets (independent FMA chains). Narrower last tiles use the
//   same body with NV < 4 vectors and a masked last vector.
//   Bound: every FMA needs its own zmm load of X (with unstructured sparsity no two rows share a
//   column pattern, so nothing is reused from registers). Measured on Zen 5 per stored entry per
//   64 columns: 3.3 cycles with X in L1 and long rows, 4.0 with ~13-entry rows, ~4.9 with a
//   1024-row panel (256 KiB) in L2; dense GEMM does ~14 FMAs per load.
// f32_spmv_csr_fma8: one sample (x contiguous): scalar FMAs over 8 independent chains. Loading
//   index, value and x[index] bounds it; measured 1.2 cycles/entry against 1.4 for a 16-wide
//   gather version (vgatherdps is slow here), so the scalar form is the fast one.
#include <immintrin.h>

#include <cassert>

#include "fastnn/kernel_table.h"
#include "lanes.h"

namespace fastnn {
namespace avx512 {

namespace {

constexpr int kNB = 64;  // panel columns per register tile

// Vector v of a tile row: full load except the last vector, which is masked.
template <int NV>
inline __m512 load_v(const float* p, int v, __mmask16 last_mask) {
  return v == NV - 1 ? _mm512_maskz_loadu_ps(last_mask, p + 16 * v) : _mm512_loadu_ps(p + 16 * v);
}

// out[v] = act(bias + sum_p val[p] * x[col[p]*ldx + 16v ..]) for one CSR row. The entries are
// dealt round-robin over kSets accumulator sets, summed pairwise at the end.
template <int NV>
inline void row_tile(int64_t p0, int64_t p1, const int32_t* col, const float* val, const float* x,
                     int64_t ldx, __mmask16 last_mask, float bias, bool relu, __m512 out[NV]) {
  constexpr int kSets = NV >= 3 ? 2 : 4;  // measured: more sets spill or do not pay
  __m512 vacc[kSets][NV];
  for (int s = 0; s < kSets; ++s)
    for (int v = 0; v < NV; ++v) vacc[s][v] = s == 0 ? _mm512_set1_ps(bias) : _mm512_setzero_ps();
  // One step for one stored weight; used for the full rounds and for the last entries.
  auto step = [&](__m512* acc, int64_t p) {
    const float* xi = x + static_cast<int64_t>(col[p]) * ldx;
    const __m512 vw = _mm512_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(vw, load_v<NV>(xi, v, last_mask), acc[v]);
  };
  int64_t p = p0;
  for (; p + kSets <= p1; p += kSets)
    for (int s = 0; s < kSets; ++s) step(vacc[s], p + s);
  // The last (< kSets) entries; s stays a compile-time index so vacc stays in registers.
  for (int s = 0; s < kSets - 1; ++s)
    if (p + s < p1) step(vacc[s], p + s);
  // Pairwise sum of the sets (fixed order).
  for (int w = kSets / 2; w >= 1; w /= 2)
    for (int s = 0; s < w; ++s)
      for (int v = 0; v < NV; ++v) vacc[s][v] = _mm512_add_ps(vacc[s][v], vacc[s + w][v]);
  const __m512 vzero = _mm512_setzero_ps();
  for (int v = 0; v < NV; ++v)
    out[v] = relu ? _mm512_max_ps(vzero, vacc[0][v]) : vacc[0][v];  // max(0, NaN) = NaN
}

template <int NV>
void panel(int64_t m, int64_t nj, const int64_t* row_ptr, const int32_t* col, const float* val,
           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy, bool relu) {
  const __mmask16 last_mask = first_lanes(nj - 16 * (NV - 1));
  for (int64_t o = 0; o < m; ++o) {
    __m512 vout[NV];
    row_tile<NV>(row_ptr[o], row_ptr[o + 1], col, val, x, ldx, last_mask, bias ? bias[o] : 0.0f,
                 relu, vout);
    float* dst = y + o * ldy;
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) _mm512_mask_storeu_ps(dst + 16 * v, last_mask, vout[v]);
      else _mm512_storeu_ps(dst + 16 * v, vout[v]);
    }
  }
}

}  // namespace

void f32_spmm_csr_16x64(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                        const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                        int64_t ldy, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const bool relu = ep.act == Act::relu;
  for (int64_t j0 = 0; j0 < n; j0 += kNB) {
    const int64_t nj = n - j0 < kNB ? n - j0 : kNB;
    switch ((nj + 15) / 16) {
      case 4: panel<4>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      case 3: panel<3>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      case 2: panel<2>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      default: panel<1>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
    }
  }
}

void f32_spmv_csr_fma8(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                       const float* x, const float* bias, float* y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  constexpr int kSets = 8;
  for (int64_t o0 = 0; o0 < m; o0 += 16) {
    const int64_t rb = m - o0 < 16 ? m - o0 : 16;
    alignas(64) float sums[16];
    for (int64_t r = 0; r < rb; ++r) {
      __m128 vacc[kSets];
      for (int s = 0; s < kSets; ++s) vacc[s] = _mm_setzero_ps();
      auto step = [&](__m128& acc, int64_t p) {
        acc = _mm_fmadd_ss(_mm_load_ss(val + p), _mm_load_ss(x + col[p]), acc);
      };
      const int64_t p1 = row_ptr[o0 + r + 1];
      int64_t p = row_ptr[o0 + r];
      for (; p + kSets <= p1; p += kSets)
        for (int s = 0; s < kSets; ++s) step(vacc[s], p + s);
      for (int s = 0; s < kSets - 1; ++s)
        if (p + s < p1) step(vacc[s], p + s);
      for (int w = kSets / 2; w >= 1; w /= 2)
        for (int s = 0; s < w; ++s) vacc[s] = _mm_add_ss(vacc[s], vacc[s + w]);
      sums[r] = _mm_cvtss_f32(vacc[0]);
    }
    // One vector epilogue for 16 rows: bias, ReLU, masked store.
    const __mmask16 row_mask = first_lanes(rb);
    const __m512 vzero = _mm512_setzero_ps();
    __m512 vy = _mm512_maskz_load_ps(row_mask, sums);
    if (bias) vy = _mm512_add_ps(vy, _mm512_maskz_loadu_ps(row_mask, bias + o0));
    if (ep.act == Act::relu) vy = _mm512_max_ps(vzero, vy);
    _mm512_mask_storeu_ps(y + o0, row_mask, vy);
  }
}

}  // namespace avx512
}  // namespace fastnn
