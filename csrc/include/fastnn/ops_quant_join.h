// Joins of uint8 tensors in a quantized graph (frame/quant_join.cpp; docs/quantization.md):
// Concat and Add of tensors that each carry their own (scale, zero point), written with the
// output's. Kept apart from ops.h so the graph joins build on their own.
#pragma once
#include <cstdint>

#include "fastnn/ops.h"

namespace fastnn {

// One input of requantize_concat_u8: `rows` x `cols` bytes, row-major, with its qparams.
struct U8Slice {
  const uint8_t* data = nullptr;
  int64_t cols = 0;
  QParamsU8 q;
};

// out (rows x sum(cols), row-major) = the inputs side by side along the columns, each value
// requantized: out = clamp(rint(float(q - z_in) * m) + z_out, lo, 255), m = float(s_in / s_out)
// (float32 product, round half to even), lo = z_out with relu, else 0. An input whose qparams
// equal the output's is copied. One input is a plain requantize. NHWC concatenation on channels
// is this with rows = N*H*W.
void requantize_concat_u8(const U8Slice* inputs, int64_t n_inputs, int64_t rows, uint8_t* out,
                          QParamsU8 out_q, bool relu);

// out[i] = clamp(rint(float(a[i] - za) * ma + float(b[i] - zb) * mb) + z_out, lo, 255) with
// ma = float(sa / s_out), mb = float(sb / s_out) (two float32 products, one float32 sum, no FMA),
// lo = z_out with relu, else 0; n elements.
void add_u8(const uint8_t* a, QParamsU8 qa, const uint8_t* b, QParamsU8 qb, uint8_t* out,
            QParamsU8 out_q, int64_t n, bool relu);

}  // namespace fastnn
