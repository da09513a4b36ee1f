// Blocked f32 transpose (the sparse driver's packing of a batch into the inputs x samples panel,
// and of the outputs back to samples x outputs), one body for every ISA: included inside namespace
// fastnn::<isa>; W is the block size and Block(src, lds, rows, cols, dst, ldd) that ISA's masked
// register transpose of one block of at most W x W.

template <int W, void (*Block)(const float*, int64_t, int64_t, int64_t, float*, int64_t)>
inline void transpose_blocked(int64_t rows, int64_t cols, const float* src, int64_t lds,
                              float* dst, int64_t ldd) {
  // The side with the larger row stride gets long runs: its rows lie far apart, and visiting
  // each only W floats at a time sends a block's accesses to a few cache sets.
  auto block = [&](int64_t i0, int64_t j0) {
    Block(src + i0 * lds + j0, lds, rows - i0 < W ? rows - i0 : W, cols - j0 < W ? cols - j0 : W,
          dst + j0 * ldd + i0, ldd);
  };
  if (ldd >= lds) {
    for (int64_t j0 = 0; j0 < cols; j0 += W)
      for (int64_t i0 = 0; i0 < rows; i0 += W) block(i0, j0);
  } else {
    for (int64_t i0 = 0; i0 < rows; i0 += W)
      for (int64_t j0 = 0; j0 < cols; j0 += W) block(i0, j0);
  }
}
