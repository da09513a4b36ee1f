// AVX2 CSR sparse x dense kernels; the scheme of avx512/spmm_csr.cpp at 8 lanes.
//
// f32_spmm_csr_8x32: register tile = one output row x 32 panel columns (4 ymm); the row's entries
//   are dealt over several accumulator sets (8 FMA chains, 16 ymm registers). Narrower last tiles
//   use the same body with NV < 4 vectors and a masked last vector. Transposed output goes through
//   a 32-row x 32-column L1 buffer and 8x8 register transposes.
// f32_spmv_csr_fma8: one sample (x contiguous): scalar FMAs over 8 independent chains (faster than
//   a vgatherdps version here; see the avx512 file).
#include <immintrin.h>

#include <cassert>

#include "fastnn/kernel_table.h"
#include "lanes.h"

namespace fastnn {
namespace avx2 {

namespace {

constexpr int kNB = 32;  // panel columns per register tile

// Vector v of a tile row: full load except the last vector, which is masked.
template <int NV>
inline __m256 load_v(const float* p, int v, __m256i last_mask) {
  return v == NV - 1 ? _mm256_maskload_ps(p + 8 * v, last_mask) : _mm256_loadu_ps(p + 8 * v);
}

// out[v] = act(bias + sum_p val[p] * x[col[p]*ldx + 8v ..]) for one CSR row, the entries dealt
// round-robin over kSets accumulator sets.
template <int NV>
inline void row_tile(int64_t p0, int64_t p1, const int32_t* col, const float* val, const float* x,
                     int64_t ldx, __m256i last_mask, float bias, bool relu, __m256 out[NV]) {
  constexpr int kSets = NV >= 4 ? 2 : (NV == 1 ? 8 : 4);  // 16 ymm registers
  __m256 vacc[kSets][NV];
  for (int s = 0; s < kSets; ++s)
    for (int v = 0; v < NV; ++v) vacc[s][v] = s == 0 ? _mm256_set1_ps(bias) : _mm256_setzero_ps();
  auto step = [&](__m256* acc, int64_t p) {
    const float* xi = x + static_cast<int64_t>(col[p]) * ldx;
    const __m256 vw = _mm256_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(vw, load_v<NV>(xi, v, last_mask), acc[v]);
  };
  int64_t p = p0;
  for (; p + kSets <= p1; p += kSets)
    for (int s = 0; s < kSets; ++s) step(vacc[s], p + s);
  // The last (< kSets) entries; s stays a compile-time index so vacc stays in registers.
  for (int s = 0; s < kSets - 1; ++s)
    if (p + s < p1) step(vacc[s], p + s);
  for (int w = kSets / 2; w >= 1; w /= 2)
    for (int s = 0; s < w; ++s)
      for (int v = 0; v < NV; ++v) vacc[s][v] = _mm256_add_ps(vacc[s][v], vacc[s + w][v]);
  const __m256 vzero = _mm256_setzero_ps();
  for (int v = 0; v < NV; ++v)
    out[v] = relu ? _mm256_max_ps(vzero, vacc[0][v]) : vacc[0][v];  // max(0, NaN) = NaN
}

template <int NV>
void panel(int64_t m, int64_t nj, const int64_t* row_ptr, const int32_t* col, const float* val,
           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy, bool relu) {
  const __m256i last_mask = first_lanes(nj - 8 * (NV - 1));
  for (int64_t o = 0; o < m; ++o) {
    __m256 vout[NV];
    row_tile<NV>(row_ptr[o], row_ptr[o + 1], col, val, x, ldx, last_mask, bias ? bias[o] : 0.0f,
                 relu, vout);
    float* dst = y + o * ldy;
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) _mm256_maskstore_ps(dst + 8 * v, last_mask, vout[v]);
      else _mm256_storeu_ps(dst + 8 * v, vout[v]);
    }
  }
}

}  // namespace

void f32_spmm_csr_8x32(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                       const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                       int64_t ldy, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const bool relu = ep.act == Act::relu;
  for (int64_t j0 = 0; j0 < n; j0 += kNB) {
    const int64_t nj = n - j0 < kNB ? n - j0 : kNB;
    switch ((nj + 7) / 8) {
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
  for (int64_t o0 = 0; o0 < m; o0 += 8) {
    const int64_t rb = m - o0 < 8 ? m - o0 : 8;
    alignas(32) float sums[8];
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
    // One vector epilogue for 8 rows: bias, ReLU, masked store.
    const __m256i row_mask = first_lanes(rb);
    const __m256 vzero = _mm256_setzero_ps();
    __m256 vy = _mm256_maskload_ps(sums, row_mask);
    if (bias) vy = _mm256_add_ps(vy, _mm256_maskload_ps(bias + o0, row_mask));
    if (ep.act == Act::relu) vy = _mm256_max_ps(vzero, vy);
    _mm256_maskstore_ps(y + o0, row_mask, vy);
  }
}

}  // namespace avx2
}  // namespace fastnn
