// GEMM epilogue on a finished, L1-hot output tile, c = act(c + bias[col]), one body for every ISA:
// included inside namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h).
// none / relu / leaky_relu are computed in registers, kWidth lanes at a time with a masked tail;
// the transcendental activations (elu, sigmoid, tanh) add the bias here and hand each row to the
// table's elementwise f32_act. Results equal act_scalar (ref/act.h) bit for bit, NaN included.

namespace {

template <Act A>
inline Vec::F epilogue_act_vec(Vec::F v, Vec::F vslope) {
  if (A == Act::relu) {
    // max(0, v) returns its second operand when either is NaN, so NaN propagates as in act_scalar.
    return Vec::max(Vec::zero(), v);
  } else if (A == Act::leaky_relu) {
    return Vec::select(Vec::gt(v, Vec::zero()), Vec::mul(v, vslope), v);
  }
  (void)vslope;
  return v;
}

template <Act A, bool Bias>
void epilogue_rows(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias, float slope) {
  const Vec::F vslope = Vec::set1(slope);
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; j += Vec::kWidth) {
      const Vec::M mask = Vec::first(n - j);
      Vec::F v = Vec::load(mask, ci + j);
      if (Bias) v = Vec::add(v, Vec::load(mask, bias + j));
      Vec::store(mask, ci + j, epilogue_act_vec<A>(v, vslope));
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
