// Transposing pack (contract: kernel_table.h, f32_transpose_rows_fn), one body for every ISA:
// included inside namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h). kWidth x kWidth
// register transposes; row/column tails use masked loads and stores in the same body; rows past
// nrows are zero vectors, so they zero-fill the destination.

void f32_transpose_rows(const float* const* rows, int64_t nrows, int64_t len, int64_t ld,
                        int64_t width, const float* add, float* dst) {
  constexpr int W = Vec::kWidth;
  static const float kZero[W] = {};
  const Vec::M none = Vec::first(0);
  for (int64_t r0 = 0; r0 < width; r0 += W) {
    const int64_t real = std::clamp<int64_t>(nrows - r0, 0, W);
    const Vec::M cols = Vec::first(width - r0);
    for (int64_t t0 = 0; t0 < len; t0 += W) {
      const int64_t tb = std::min<int64_t>(W, len - t0);
      const Vec::M tmask = Vec::first(tb);
      Vec::F v[W];
      for (int r = 0; r < W; ++r) {
        const bool on = r < real;
        v[r] = Vec::load(on ? tmask : none, on ? rows[r0 + r] + t0 : kZero);
      }
      Vec::transpose(v);
      for (int64_t t = 0; t < tb; ++t) {
        const Vec::F vt =
            add ? Vec::select(Vec::first(real), v[t], Vec::add(v[t], Vec::set1(add[t0 + t]))) : v[t];
        Vec::store(cols, dst + (t0 + t) * ld + r0, vt);
      }
    }
  }
}
