// AVX-512 GEMM epilogue on a finished, L1-hot output tile: c = act(c + bias[col]).
// none / relu / leaky_relu are computed in registers, 16 lanes at a time with a masked tail; the
// transcendental activations (elu, sigmoid, tanh) add the bias here and hand each row to the
// table's elementwise f32_act. Results equal act_scalar (ref/act.h) bit for bit, NaN included.
#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"  // (includes <immintrin.h>)

namespace fastnn {
namespace avx512 {

namespace {

template <Act A>
inline __m512 act16(__m512 v, __m512 vslope) {
  if (A == Act::relu) {
    // max(0, v) returns its second operand when either is NaN, so NaN propagates as in act_scalar.
    return _mm512_max_ps(_mm512_setzero_ps(), v);
  } else if (A == Act::leaky_relu) {
    const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, vslope), v);
  }
  (void)vslope;
  return v;
}

template <Act A, bool Bias>
void epilogue_rows(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias, float slope) {
  const __m512 vslope = _mm512_set1_ps(slope);
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mask = lanes16(n - j);
      __m512 v = _mm512_maskz_loadu_ps(mask, ci + j);
      if (Bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
      _mm512_mask_storeu_ps(ci + j, mask, act16<A>(v, vslope));
    }
  }
}

template <Act A>
void epilogue_act(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias, float slope) {
  if (bias) epilogue_rows<A, true>(c, ldc, m, n, bias, slope);
  else epilogue_rows<A, false>(c, ldc, m, n, bias, slope);
}

}  // namespace

void f32_epilogue(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                  const Epilogue& ep) {
  switch (ep.act) {
    case Act::none: if (bias) epilogue_rows<Act::none, true>(c, ldc, m, n, bias, 0.0f); return;
    case Act::relu: epilogue_act<Act::relu>(c, ldc, m, n, bias, 0.0f); return;
    case Act::leaky_relu: epilogue_act<Act::leaky_relu>(c, ldc, m, n, bias, ep.param); return;
    default: break;
  }
  // elu, sigmoid, tanh: bias here, the activation by the table's elementwise kernel, row by row.
  if (bias) epilogue_rows<Act::none, true>(c, ldc, m, n, bias, 0.0f);
  const f32_act_fn act = kernels().f32_act;
  for (int64_t i = 0; i < m; ++i) act(c + i * ldc, c + i * ldc, n, ep);
}

}  // namespace avx512
}  // namespace fastnn
