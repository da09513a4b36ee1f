// Row leaves for batch norm and global pooling, one body for every ISA: included inside namespace
// fastnn::<isa> after that ISA's `struct Vec` (vec_*.h). Each step is written once and used by the
// unrolled main loop (full mask) and the tail (partial mask). Contracts: kernel_table.h.

void f32_row_moments(const float* x, int64_t n, float shift, float* sum, float* sumsq) {
  constexpr int W = Vec::kWidth;
  const Vec::F vshift = Vec::set1(shift);
  Vec::F s[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
  Vec::F q[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
  auto step = [&](Vec::M m, int64_t i, int a) {
    const Vec::F d = Vec::sub_z(m, Vec::load(m, x + i), vshift);
    s[a] = Vec::add(s[a], d);
    q[a] = Vec::fmadd(d, d, q[a]);
  };
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W)
    for (int a = 0; a < 4; ++a) step(Vec::all(), i + a * W, a);
  for (; i < n; i += W) step(Vec::first(n - i), i, 0);
  *sum = Vec::hsum(Vec::add(Vec::add(s[0], s[1]), Vec::add(s[2], s[3])));
  *sumsq = Vec::hsum(Vec::add(Vec::add(q[0], q[1]), Vec::add(q[2], q[3])));
}

void f32_row_affine(const float* x, float* y, int64_t n, float a, float b) {
  const Vec::F va = Vec::set1(a), vb = Vec::set1(b);
  for (int64_t i = 0; i < n; i += Vec::kWidth) {
    const Vec::M m = Vec::first(n - i);
    Vec::store(m, y + i, Vec::fmadd(va, Vec::load(m, x + i), vb));
  }
}

void f32_row_dot2(const float* dy, const float* x, int64_t n, float shift, float* sdy, float* sdyx) {
  constexpr int W = Vec::kWidth;
  const Vec::F vshift = Vec::set1(shift);
  Vec::F s[2] = {Vec::zero(), Vec::zero()};
  Vec::F p[2] = {Vec::zero(), Vec::zero()};
  auto step = [&](Vec::M m, int64_t i, int a) {
    const Vec::F g = Vec::load(m, dy + i);
    s[a] = Vec::add(s[a], g);
    p[a] = Vec::fmadd(g, Vec::sub_z(m, Vec::load(m, x + i), vshift), p[a]);
  };
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W)
    for (int a = 0; a < 2; ++a) step(Vec::all(), i + a * W, a);
  for (; i < n; i += W) step(Vec::first(n - i), i, 0);
  *sdy = Vec::hsum(Vec::add(s[0], s[1]));
  *sdyx = Vec::hsum(Vec::add(p[0], p[1]));
}

void f32_row_affine2(const float* dy, const float* x, float* dx, int64_t n, float a, float b,
                     float c) {
  const Vec::F va = Vec::set1(a), vb = Vec::set1(b), vc = Vec::set1(c);
  for (int64_t i = 0; i < n; i += Vec::kWidth) {
    const Vec::M m = Vec::first(n - i);
    const Vec::F v = Vec::fmadd(vb, Vec::load(m, x + i), vc);
    Vec::store(m, dx + i, Vec::fmadd(va, Vec::load(m, dy + i), v));
  }
}
