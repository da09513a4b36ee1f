// AVX2 GEMM epilogue on a finished, L1-hot output tile: c = act(c + bias[col]).
// none / relu / leaky_relu are computed in registers, 8 lanes at a time with a masked tail; the
// transcendental activations (elu, sigmoid, tanh) add the bias here and hand each row to the
// table's elementwise f32_act. Results equal act_scalar (ref/act.h) bit for bit, NaN included.
#include <immintrin.h>

#include "fastnn/kernel_table.h"
#include "gemm_avx2_util.h"

namespace fastnn {
namespace avx2 {

namespace {

template <Act A>
inline __m256 act8(__m256 v, __m256 vslope) {
  if (A == Act::relu) {
    // max(0, v) returns its second operand when either is NaN, so NaN propagates as in act_scalar.
    return _mm256_max_ps(_mm256_setzero_ps(), v);
  } else if (A == Act::leaky_relu) {
    const __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_mul_ps(v, vslope), v, pos);
  }
  (void)vslope;
  return v;
}

template <Act A, bool Bias>
void epilogue_rows(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias, float slope) {
  const __m256 vslope = _mm256_set1_ps(slope);
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; j += 8) {
      const __m256i mask = lanes8(n - j);
      __m256 v = _mm256_maskload_ps(ci + j, mask);
      if (Bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + j, mask));
      _mm256_maskstore_ps(ci + j, mask, act8<A>(v, vslope));
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

}  // namespace avx2
}  // namespace fastnn
