// CSR sparse x dense kernels ("sparse weights times dense activations", Elsen et al.; XNNPACK
// f32-spmm), one body for every ISA: included inside namespace fastnn::<isa> after that ISA's
// `struct Vec` (vec_*.h) and `constexpr int spmm_sets(int nv)` (accumulator sets of an NV-vector
// tile, chosen per ISA by its register count). The panel's columns (samples or pixels) are the
// vector dimension, so each stored weight is one broadcast and NV fused multiply-adds over a row of
// the dense panel. Contracts: kernel_table.h (f32_spmm_csr_fn, f32_spmv_csr_fn).
//
// f32_spmm_csr: register tile = one output row x 4 vectors of panel columns (32 on AVX2, 64 on
//   AVX-512); the row's entries are dealt over several accumulator sets (independent FMA chains).
//   Narrower last tiles use the same body with NV < 4 vectors and a masked last vector.
// f32_spmv_csr_fma8: one sample (x contiguous): scalar FMAs over 8 independent chains (loading
//   index, value and x[index] bounds it; a gather version measured slower), then one vector
//   epilogue per kWidth rows.

namespace {

constexpr int kSpmmNB = 4 * Vec::kWidth;  // panel columns per register tile

// Vector v of a tile row: full load except the last vector, which is masked.
template <int NV>
inline Vec::F spmm_load_v(const float* p, int v, Vec::M last_mask) {
  return v == NV - 1 ? Vec::load(last_mask, p + Vec::kWidth * v) : Vec::loadu(p + Vec::kWidth * v);
}

// out[v] = act(bias + sum_p val[p] * x[col[p]*ldx + kWidth*v ..]) for one CSR row. The entries are
// dealt round-robin over kSets accumulator sets, summed pairwise at the end.
template <int NV>
inline void spmm_row_tile(int64_t p0, int64_t p1, const int32_t* col, const float* val,
                          const float* x, int64_t ldx, Vec::M last_mask, float bias, bool relu,
                          Vec::F out[NV]) {
  constexpr int kSets = spmm_sets(NV);
  Vec::F vacc[kSets][NV];
  for (int s = 0; s < kSets; ++s)
    for (int v = 0; v < NV; ++v) vacc[s][v] = s == 0 ? Vec::set1(bias) : Vec::zero();
  // One step for one stored weight; used for the full rounds and for the last entries.
  auto step = [&](Vec::F* acc, int64_t p) {
    const float* xi = x + static_cast<int64_t>(col[p]) * ldx;
    const Vec::F vw = Vec::set1(val[p]);
    for (int v = 0; v < NV; ++v) acc[v] = Vec::fmadd(vw, spmm_load_v<NV>(xi, v, last_mask), acc[v]);
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
      for (int v = 0; v < NV; ++v) vacc[s][v] = Vec::add(vacc[s][v], vacc[s + w][v]);
  for (int v = 0; v < NV; ++v)
    out[v] = relu ? Vec::max(Vec::zero(), vacc[0][v]) : vacc[0][v];  // max(0, NaN) = NaN
}

template <int NV>
void spmm_panel(int64_t m, int64_t nj, const int64_t* row_ptr, const int32_t* col,
                const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                int64_t ldy, bool relu) {
  const Vec::M last_mask = Vec::first(nj - Vec::kWidth * (NV - 1));
  for (int64_t o = 0; o < m; ++o) {
    Vec::F vout[NV];
    spmm_row_tile<NV>(row_ptr[o], row_ptr[o + 1], col, val, x, ldx, last_mask,
                      bias ? bias[o] : 0.0f, relu, vout);
    float* dst = y + o * ldy;
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) Vec::store(last_mask, dst + Vec::kWidth * v, vout[v]);
      else Vec::storeu(dst + Vec::kWidth * v, vout[v]);
    }
  }
}

}  // namespace

// The leaves themselves (the same names in every ISA namespace), defined here: include this file
// once per translation unit.
void f32_spmm_csr(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                  const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                  int64_t ldy, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  const bool relu = ep.act == Act::relu;
  for (int64_t j0 = 0; j0 < n; j0 += kSpmmNB) {
    const int64_t nj = n - j0 < kSpmmNB ? n - j0 : kSpmmNB;
    switch ((nj + Vec::kWidth - 1) / Vec::kWidth) {
      case 4: spmm_panel<4>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      case 3: spmm_panel<3>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      case 2: spmm_panel<2>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
      default: spmm_panel<1>(m, nj, row_ptr, col, val, x + j0, ldx, bias, y + j0, ldy, relu); break;
    }
  }
}

void f32_spmv_csr_fma8(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                       const float* x, const float* bias, float* y, const Epilogue& ep) {
  assert(ep.act == Act::none || ep.act == Act::relu);
  constexpr int kSets = 8;
  constexpr int W = Vec::kWidth;
  for (int64_t o0 = 0; o0 < m; o0 += W) {
    const int64_t rb = m - o0 < W ? m - o0 : W;
    alignas(64) float sums[W];
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
    // One vector epilogue for kWidth rows: bias, ReLU, masked store.
    const Vec::M row_mask = Vec::first(rb);
    Vec::F vy = Vec::load(row_mask, sums);
    if (bias) vy = Vec::add(vy, Vec::load(row_mask, bias + o0));
    if (ep.act == Act::relu) vy = Vec::max(Vec::zero(), vy);
    Vec::store(row_mask, y + o0, vy);
  }
}
