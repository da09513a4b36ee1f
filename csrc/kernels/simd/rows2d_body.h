// Strided row copies with zero fill for the convolution drivers, one body for every ISA: included inside
// namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h). Each row is processed in
// vector chunks whose last chunk is masked (same code). Contracts: kernel_table.h.

void f32_copy_rows_padded(const float* src, int64_t sld, int64_t n_src, int64_t lead,
                          int64_t rows, float* dst, int64_t dld, int64_t n_dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * sld - lead;
    float* d = dst + r * dld;
    for (int64_t t = 0; t < n_dst; t += Vec::kWidth) {
      const bool full = t + Vec::kWidth <= n_dst;
      const int64_t s0 = t - lead;
      Vec::F v;
      if (full && s0 >= 0 && s0 + Vec::kWidth <= n_src) {
        v = Vec::loadu(s + t);  // the common case: no mask (masked stores are slow on AMD)
      } else {
        const Vec::M m = Vec::in_range(Vec::addi(Vec::set1i(s0), Vec::iota()), n_src,
                                       Vec::first(n_dst - t));
        v = Vec::load(m, s + t);
      }
      if (full)
        Vec::storeu(d + t, v);
      else
        Vec::store(Vec::first(n_dst - t), d + t, v);
    }
  }
}
