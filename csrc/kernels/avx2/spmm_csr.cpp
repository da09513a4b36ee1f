// AVX2 CSR sparse x dense kernels; the same scheme as avx512/spmm_csr.cpp at 8 lanes.
//
// f32_spmm_csr_8x32: register tile = one output row x 32 panel columns (4 ymm), entries split over
//   two accumulator sets (8 FMA chains). Narrower last tiles use the same body with NV < 4 vectors
//   and a masked last vector. Transposed output goes through an 8-row x 32-column L1 buffer.
// f32_spmv_csr_gather8: 8 entries per step (masked loads, gather of x, FMA), 8 row sums share one
//   vector epilogue and store.
#include <immintrin.h>

#include <cassert>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

namespace {

constexpr int kNB = 32;  // panel columns per register tile
constexpr int kRB = 8;   // rows per transposed-store block

// Lanes [0, n) set (n clamped to [0, 8]).
inline __m256i first_n(int64_t n) {
  const int k = n < 0 ? 0 : (n > 8 ? 8 : static_cast<int>(n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int NV>
inline __m256 load_v(const float* p, int v, __m256i last_mask) {
  return v == NV - 1 ? _mm256_maskload_ps(p + 8 * v, last_mask) : _mm256_loadu_ps(p + 8 * v);
}

template <int NV>
inline void row_tile(int64_t p0, int64_t p1, const int32_t* col, const float* val, const float* x,
                     int64_t ldx, __m256i last_mask, float bias, bool relu, __m256 out[NV]) {
  __m256 vacc0[NV], vacc1[NV];
  for (int v = 0; v < NV; ++v) {
    vacc0[v] = _mm256_set1_ps(bias);
    vacc1[v] = _mm256_setzero_ps();
  }
  auto step = [&](__m256* vacc, int64_t p) {
    const float* xi = x + static_cast<int64_t>(col[p]) * ldx;
    const __m256 vw = _mm256_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) vacc[v] = _mm256_fmadd_ps(vw, load_v<NV>(xi, v, last_mask), vacc[v]);
  };
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    step(vacc0, p);
    step(vacc1, p + 1);
  }
  if (p < p1) step(vacc0, p);
  const __m256 vzero = _mm256_setzero_ps();
  for (int v = 0; v < NV; ++v) {
    out[v] = _mm256_add_ps(vacc0[v], vacc1[v]);
    if (relu) out[v] = _mm256_max_ps(vzero, out[v]);  // max(0, NaN) = NaN: NaN propagates
  }
}

template <int NV>
void panel(int64_t m, int64_t nj, const int64_t* row_ptr, const int32_t* col, const float* val,
           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy, int trans_y,
           bool relu) {
  const __m256i last_mask = first_n(nj - 8 * (NV - 1));
  alignas(32) float buf[kRB][kNB];
  for (int64_t o0 = 0; o0 < m; o0 += kRB) {
    const int64_t rb = m - o0 < kRB ? m - o0 : kRB;
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t o = o0 + r;
      __m256 vout[NV];
      row_tile<NV>(row_ptr[o], row_ptr[o + 1], col, val, x, ldx, last_mask,
                   bias ? bias[o] : 0.0f, relu, vout);
      float* dst = trans_y ? buf[r] : y + o * ldy;
      for (int v = 0; v < NV; ++v) {
        if (v == NV - 1) _mm256_maskstore_ps(dst + 8 * v, last_mask, vout[v]);
        else _mm256_storeu_ps(dst + 8 * v, vout[v]);
      }
    }
    if (trans_y) {
      const __m256i row_mask = first_n(rb);
      const __m256i vrow_off = _mm256_setr_epi32(0, kNB, 2 * kNB, 3 * kNB, 4 * kNB, 5 * kNB,
                                                 6 * kNB, 7 * kNB);
      for (int64_t j = 0; j < nj; ++j) {
        const __m256 vcol = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), &buf[0][j], vrow_off,
                                                     _mm256_castsi256_ps(row_mask), 4);
        _mm256_maskstore_ps(y + j * ldy + o0, row_mask, vcol);
      }
    }
  }
}

}  // namespace

void f32_spmm_csr_8x32(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                       const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                       int64_t ldy, int trans_y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const bool relu = ep.act == Act::relu;
  for (int64_t j0 = 0; j0 < n; j0 += kNB) {
    const int64_t nj = n - j0 < kNB ? n - j0 : kNB;
    float* yj = y + (trans_y ? j0 * ldy : j0);
    switch ((nj + 7) / 8) {
      case 4: panel<4>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      case 3: panel<3>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      case 2: panel<2>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
      default: panel<1>(m, nj, row_ptr, col, val, x + j0, ldx, bias, yj, ldy, trans_y, relu); break;
    }
  }
}

void f32_spmv_csr_gather8(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                          const float* x, const float* bias, float* y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const __m256 vzero = _mm256_setzero_ps();
  alignas(32) float sums[kRB];
  for (int64_t o0 = 0; o0 < m; o0 += kRB) {
    const int64_t rb = m - o0 < kRB ? m - o0 : kRB;
    for (int64_t r = 0; r < rb; ++r) {
      const int64_t p1 = row_ptr[o0 + r + 1];
      __m256 vacc = vzero;
      for (int64_t p = row_ptr[o0 + r]; p < p1; p += 8) {
        const __m256i mask = first_n(p1 - p);
        const __m256i vidx = _mm256_maskload_epi32(col + p, mask);
        const __m256 vw = _mm256_maskload_ps(val + p, mask);
        const __m256 vx = _mm256_mask_i32gather_ps(vzero, x, vidx, _mm256_castsi256_ps(mask), 4);
        vacc = _mm256_fmadd_ps(vw, vx, vacc);
      }
      // Horizontal sum of the 8 lanes.
      __m128 vs = _mm_add_ps(_mm256_castps256_ps128(vacc), _mm256_extractf128_ps(vacc, 1));
      vs = _mm_add_ps(vs, _mm_movehl_ps(vs, vs));
      vs = _mm_add_ss(vs, _mm_movehdup_ps(vs));
      sums[r] = _mm_cvtss_f32(vs);
    }
    const __m256i row_mask = first_n(rb);
    __m256 vy = _mm256_maskload_ps(sums, row_mask);
    if (bias) vy = _mm256_add_ps(vy, _mm256_maskload_ps(bias + o0, row_mask));
    if (ep.act == Act::relu) vy = _mm256_max_ps(vzero, vy);
    _mm256_maskstore_ps(y + o0, row_mask, vy);
  }
}

}  // namespace avx2
}  // namespace fastnn
