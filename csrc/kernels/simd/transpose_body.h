// Blocked f32 transpose (the sparse driver's packing of a batch into the inputs x samples panel,
// and of the outputs back to samples x outputs), one body for every ISA: included once inside
// namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h), it defines that ISA's leaf
// f32_transpose (contract: kernel_table.h, f32_transpose_fn): blocks of Vec::kWidth x
// Vec::kWidth (8x8 on AVX2, 16x16 on AVX-512), transposed in registers with masked edges.

// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols (1 <= rows, cols <= kWidth). Rows past
// `rows` are never read; nothing outside the rows x cols image is written.
inline void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                            int64_t ldd) {
  constexpr int W = Vec::kWidth;
  const Vec::M col_mask = Vec::first(cols), row_mask = Vec::first(rows);
  Vec::F r[W];
  for (int i = 0; i < W; ++i) r[i] = i < rows ? Vec::load(col_mask, src + i * lds) : Vec::zero();
  Vec::transpose(r);
  for (int j = 0; j < W; ++j)
    if (j < cols) Vec::store(row_mask, dst + j * ldd, r[j]);
}

void f32_transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                   int64_t ldd) {
  constexpr int64_t W = Vec::kWidth;
  // The side with the larger row stride gets long runs: its rows lie far apart, and visiting
  // each only W floats at a time sends a block's accesses to a few cache sets.
  auto block = [&](int64_t i0, int64_t j0) {
    transpose_block(src + i0 * lds + j0, lds, rows - i0 < W ? rows - i0 : W,
                    cols - j0 < W ? cols - j0 : W, dst + j0 * ldd + i0, ldd);
  };
  if (ldd >= lds) {
    for (int64_t j0 = 0; j0 < cols; j0 += W)
      for (int64_t i0 = 0; i0 < rows; i0 += W) block(i0, j0);
  } else {
    for (int64_t i0 = 0; i0 < rows; i0 += W)
      for (int64_t j0 = 0; j0 < cols; j0 += W) block(i0, j0);
  }
}
