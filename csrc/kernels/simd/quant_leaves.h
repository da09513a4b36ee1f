// The quantized-tensor leaves of every SIMD ISA, written once: each <isa>/quant.cpp includes
// quant_u8_body.h, its vector traits (vec_<isa>.h, struct Vec) and then this file inside namespace
// fastnn::<isa>, so the same wrappers are compiled once per ISA with that ISA's vectors.
// Contracts: kernel_table.h ("Quantized tensors and layers"). Include once per translation unit.
#pragma once

void f32_quantize_u8(const float* x, uint8_t* q, int64_t n, float inv_scale, float zp) {
  simd::f32_quantize_u8_body<Vec>(x, q, n, inv_scale, zp);
}

void u8_sum_rows(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc) {
  simd::u8_sum_rows_body<Vec>(x, rows, c, acc);
}

void u8_maxpool_row(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw, int64_t c,
                    int64_t count, uint8_t* out) {
  simd::u8_maxpool_row_body<Vec>(rows, nrows, kw, sw, c, count, out);
}

void u8_im2col_band(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0, int64_t p0,
                    int64_t count, uint8_t* dst) {
  simd::u8_im2col_band_body<Vec>(g, xp, xs, y0, p0, count, dst);
}
