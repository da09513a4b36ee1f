// AVX-512 CSR sparse x dense kernels ("sparse weights times dense activations", Elsen et al.;
// XNNPACK f32-spmm): the panel's columns (samples or pixels) are the vector dimension, so each
// stored weight is one broadcast and NV fused multiply-adds over a row of the dense panel.
//
// f32_spmm_csr_16x64: register tile = one output row x 64 panel columns (4 zmm), with the row's
//   entries split over two accumulator sets (even/odd) so 8 FMA chains are in flight. Narrower
//   last tiles use the same body with NV < 4 vectors and a masked last vector. Transposed output
//   (samples x outputs) goes through a 16-row x 64-column L1 buffer, written out 16 outputs of one
//   sample at a time.
// f32_spmv_csr_gather16: one row at a time, 16 entries per step: masked loads of indices and
//   values, a gather of x, one FMA; 16 row sums share one vector epilogue and store.
#include <immintrin.h>

#include <cassert>

// GCC 12's _mm512_max_ps / _mm512_reduce_add_ps pass _mm512_undefined_ps() as the unused merge
// source, which -Wmaybe-uninitialized reports as a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

namespace {

constexpr int kNB = 64;  // panel columns per register tile
constexpr int kRB = 16;  // rows per transposed-store block

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1u);
}

// Vector v of a tile row: full load except the last vector, which is masked.
template <int NV>
inline __m512 load_v(const float* p, int v, __mmask16 last_mask) {
  return v == NV - 1 ? _mm512_maskz_loadu_ps(last_mask, p + 16 * v) : _mm512_loadu_ps(p + 16 * v);
}

// out[v] = act(bias + sum_p val[p] * x[col[p]*ldx + 16v ..]) for one CSR row.
template <int NV>
inline void row_tile(int64_t p0, int64_t p1, const int32_t* col, const float* val, const float* x,
                     int64_t ldx, __mmask16 last_mask, float bias, bool relu, __m512 out[NV]) {
  __m512 vacc0[NV], vacc1[NV];
  for (int v = 0; v < NV; ++v) {
    vacc0[v] = _mm512_set1_ps(bias);
    vacc1[v] = _mm512_setzero_ps();
  }
  // One step for one stored weight; used for the pairs and for an odd last entry.
  auto step = [&](__m512* vacc, int64_t p) {
    const float* xi = x + static_cast<int64_t>(col[p]) * ldx;
    const __m512 vw = _mm512_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) vacc[v] = _mm512_fmadd_ps(vw, load_v<NV>(xi, v, last_mask), vacc[v]);
  };
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    step(vacc0, p);
    step(vacc1, p + 1);
  }
  if (p < p1) step(vacc0, p);
  const __m512 vzero = _mm512_setzero_ps();
  for (int v = 0; v < NV; ++v) {
    out[v] = _mm512_add_ps(vacc0[v], vacc1[v]);
    if (relu) out[v] = _mm512_max_ps(vzero, out[v]);  // max(0, NaN) = NaN: NaN propagates
  }
}

template <int NV>
void panel(int64_t m, int64_t nj, const int64_t* row_ptr, const int32_t* col, const float* val,
           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy, int trans_y,
           bool relu) {
  const __mmask16 last_mask = first_n(nj - 16 * (NV - 1));
  alignas(64) float buf[kRB][kNB];
  for (int64_t o0 = 0; o0 < m; o0 += kRB) {
    const int64_t rb = m - o0 < kRB ? m - o0 : kRB;
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t o = o0 + r;
      __m512 vout[NV];
      row_tile<NV>(row_ptr[o], row_ptr[o + 1], col, val, x, ldx, last_mask,
                   bias ? bias[o] : 0.0f, relu, vout);
      float* dst = trans_y ? buf[r] : y + o * ldy;
      for (int v = 0; v < NV; ++v) {
        if (v == NV - 1) _mm512_mask_storeu_ps(dst + 16 * v, last_mask, vout[v]);
        else _mm512_storeu_ps(dst + 16 * v, vout[v]);
      }
    }
    if (trans_y) {
      // Column j of the buffer (rb outputs of sample j) -> y[j*ldy + o0 .. o0+rb).
      const __mmask16 row_mask = first_n(rb);
      const __m512i vrow_off = _mm512_mullo_epi32(
          _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
          _mm512_set1_epi32(kNB));
      for (int64_t j = 0; j < nj; ++j) {
        const __m512 vcol = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), row_mask, vrow_off,
                                                     &buf[0][j], 4);
        _mm512_mask_storeu_ps(y + j * ldy + o0, row_mask, vcol);
      }
    }
  }
}

}  // namespace

void f32_spmm_csr_16x64(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                        const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                        int64_t ldy, int trans_y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const bool relu = ep.act == Act::relu;
  for (int64_t j0 = 0; j0 < n; j0 += kNB) {
    const int64_t nj = n - j0 < kNB ? n - j0 : kNB;
    float* yj = y + (trans_y ? j0 * ldy : j0);
    switch ((nj + 15) / 16) {
      case 4: panel<4>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      case 3: panel<3>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      case 2: panel<2>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      default: panel<1>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
    }
  }
}

void f32_spmv_csr_gather16(int64_t m, const int64_t* row_ptr, const int32_t* col,
                           const float* val, const float* x, const float* bias, float* y,
                           const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const __m512 vzero = _mm512_setzero_ps();
  alignas(64) float sums[kRB];
  for (int64_t o0 = 0; o0 < m; o0 += kRB) {
    const int64_t rb = m - o0 < kRB ? m - o0 : kRB;
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t p1 = row_ptr[o0 + r + 1];
      __m512 vacc = vzero;
      for (int64_t p = row_ptr[o0 + r]; p < p1; p += 16) {
        const __mmask16 mask = first_n(p1 - p);
        const __m512i vidx = _mm512_maskz_loadu_epi32(mask, col + p);
        const __m512 vw = _mm512_maskz_loadu_ps(mask, val + p);
        const __m512 vx = _mm512_mask_i32gather_ps(vzero, mask, vidx, x, 4);
        vacc = _mm512_fmadd_ps(vw, vx, vacc);
      }
      sums[r] = _mm512_reduce_add_ps(vacc);
    }
    const __mmask16 row_mask = first_n(rb);
    __m512 vy = _mm512_maskz_load_ps(row_mask, sums);
    if (bias) vy = _mm512_add_ps(vy, _mm512_maskz_loadu_ps(row_mask, bias + o0));
    if (ep.act == Act::relu) vy = _mm512_max_ps(vzero, vy);
    _mm512_mask_storeu_ps(y + o0, row_mask, vy);
  }
}

}  // namespace avx512
}  // namespace fastnn
