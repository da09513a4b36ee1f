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

// Column leaves (batch norm on (n, c)): blocks of NV <= 4 vectors of adjacent columns, their
// accumulators in registers, walked down the rows (each row of a block is contiguous). Full blocks
// use plain loads and stores (masked ones are slow on some CPUs, e.g. AVX2 vmaskmov on AMD); the
// last, partial block masks every vector.
template <bool kMasked>
struct ColLanes {
  static constexpr bool masked = kMasked;
  Vec::M m[4];
  Vec::F load(int v, const float* p) const {
    if constexpr (kMasked) return Vec::load(m[v], p); else return Vec::loadu(p);
  }
  void store(int v, float* p, Vec::F x) const {
    if constexpr (kMasked) Vec::store(m[v], p, x); else Vec::storeu(p, x);
  }
  Vec::F sub(int v, Vec::F a, Vec::F b) const {
    if constexpr (kMasked) return Vec::sub_z(m[v], a, b); else return Vec::sub(a, b);
  }
};

// step(j0, nv, lanes): NV = 4 on full blocks (a constant: unrolled), the tail block's count after.
template <class Step>
void col_blocks(int64_t cols, const Step& step) {
  constexpr int W = Vec::kWidth;
  int64_t j0 = 0;
  const ColLanes<false> full{};
  for (; j0 + 4 * W <= cols; j0 += 4 * W) step(j0, std::integral_constant<int, 4>(), full);
  if (j0 == cols) return;
  ColLanes<true> tail{};
  const int nv = static_cast<int>((cols - j0 + W - 1) / W);
  for (int v = 0; v < nv; ++v) tail.m[v] = Vec::first(cols - j0 - v * W);
  step(j0, nv, tail);
}

void f32_col_moments(const float* x, int64_t rows, int64_t ld, int64_t cols, const float* shift,
                     float* sum, float* sumsq) {
  constexpr int W = Vec::kWidth;
  col_blocks(cols, [&](int64_t j0, auto nv, const auto& L) {
    Vec::F sh[4], s[4], q[4];
    for (int v = 0; v < nv; ++v) {
      sh[v] = L.load(v, shift + j0 + v * W);
      s[v] = q[v] = Vec::zero();
    }
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = x + i * ld + j0;
      for (int v = 0; v < nv; ++v) {
        const Vec::F d = L.sub(v, L.load(v, r + v * W), sh[v]);
        s[v] = Vec::add(s[v], d);
        q[v] = Vec::fmadd(d, d, q[v]);
      }
    }
    for (int v = 0; v < nv; ++v) {
      L.store(v, sum + j0 + v * W, s[v]);
      L.store(v, sumsq + j0 + v * W, q[v]);
    }
  });
}

void f32_col_affine(const float* x, float* y, int64_t rows, int64_t ld, int64_t cols,
                    const float* a, const float* b) {
  constexpr int W = Vec::kWidth;
  col_blocks(cols, [&](int64_t j0, auto nv, const auto& L) {
    Vec::F va[4], vb[4];
    for (int v = 0; v < nv; ++v) {
      va[v] = L.load(v, a + j0 + v * W);
      vb[v] = L.load(v, b + j0 + v * W);
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int v = 0; v < nv; ++v) {
        const int64_t o = i * ld + j0 + v * W;
        L.store(v, y + o, Vec::fmadd(va[v], L.load(v, x + o), vb[v]));
      }
  });
}

void f32_col_dot2(const float* dy, const float* x, int64_t rows, int64_t ld, int64_t cols,
                  const float* shift, float* sdy, float* sdyx) {
  constexpr int W = Vec::kWidth;
  col_blocks(cols, [&](int64_t j0, auto nv, const auto& L) {
    Vec::F sh[4], s[4], p[4];
    for (int v = 0; v < nv; ++v) {
      sh[v] = L.load(v, shift + j0 + v * W);
      s[v] = p[v] = Vec::zero();
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int v = 0; v < nv; ++v) {
        const int64_t o = i * ld + j0 + v * W;
        const Vec::F g = L.load(v, dy + o);
        s[v] = Vec::add(s[v], g);
        p[v] = Vec::fmadd(g, L.sub(v, L.load(v, x + o), sh[v]), p[v]);
      }
    for (int v = 0; v < nv; ++v) {
      L.store(v, sdy + j0 + v * W, s[v]);
      L.store(v, sdyx + j0 + v * W, p[v]);
    }
  });
}

void f32_col_affine2(const float* dy, const float* x, float* dx, int64_t rows, int64_t ld,
                     int64_t cols, const float* a, const float* b, const float* c) {
  constexpr int W = Vec::kWidth;
  col_blocks(cols, [&](int64_t j0, auto nv, const auto& L) {
    Vec::F va[4], vb[4], vc[4];
    for (int v = 0; v < nv; ++v) {
      va[v] = L.load(v, a + j0 + v * W);
      vb[v] = L.load(v, b + j0 + v * W);
      vc[v] = L.load(v, c + j0 + v * W);
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int v = 0; v < nv; ++v) {
        const int64_t o = i * ld + j0 + v * W;
        const Vec::F t = Vec::fmadd(vb[v], L.load(v, x + o), vc[v]);
        L.store(v, dx + o, Vec::fmadd(va[v], L.load(v, dy + o), t));
      }
  });
}

// Four weight rows at a time share each load of x; unmasked main loop, masked tail.
// x rounded to bfloat16 (nearest even; NaN stays NaN, quiet), as a float (kernel_table.h
// "[bf16 GEMM]"; the same bits as f32_to_bf16_bits).
inline Vec::F bf16_round(Vec::F x) {
  const Vec::I u = Vec::as_int(x);
  const Vec::I r = Vec::addi(Vec::addi(u, Vec::set1i(0x7fff)),
                             Vec::andi(Vec::srli<16>(u), Vec::set1i(1)));
  const Vec::M nan = Vec::gti(Vec::andi(u, Vec::set1i(0x7fffffff)), Vec::set1i(0x7f800000));
  const Vec::I q = Vec::ori(u, Vec::set1i(0x00400000));
  return Vec::as_float(Vec::andi(Vec::selecti(nan, r, q), Vec::set1i(-65536)));  // 0xffff0000
}

template <bool kBf16>
inline Vec::F wv(Vec::F v) {
  if constexpr (kBf16) return bf16_round(v);
  else return v;
}

template <bool kBf16>
inline void gemv_rows(const float* w, int64_t ldw, const float* x, int64_t k, int64_t n, float* y) {
  constexpr int W = Vec::kWidth;
  const int64_t kmain = k / W * W;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float* r[4] = {w + j * ldw, w + (j + 1) * ldw, w + (j + 2) * ldw, w + (j + 3) * ldw};
    Vec::F acc[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
    auto step = [&](Vec::M m, int64_t p, bool full) {
      const Vec::F xv = full ? Vec::loadu(x + p) : Vec::load(m, x + p);
      for (int q = 0; q < 4; ++q)
        acc[q] = Vec::fmadd(wv<kBf16>(full ? Vec::loadu(r[q] + p) : Vec::load(m, r[q] + p)), xv, acc[q]);
    };
    for (int64_t p = 0; p < kmain; p += W) step(Vec::all(), p, true);
    if (kmain < k) step(Vec::first(k - kmain), kmain, false);
    for (int q = 0; q < 4; ++q) y[j + q] = Vec::hsum(acc[q]);
  }
  for (; j < n; ++j) {
    const float* r = w + j * ldw;
    Vec::F acc = Vec::zero();
    for (int64_t p = 0; p < k; p += W) {
      const Vec::M m = Vec::first(k - p);
      acc = Vec::fmadd(wv<kBf16>(Vec::load(m, r + p)), Vec::load(m, x + p), acc);
    }
    y[j] = Vec::hsum(acc);
  }
}

void f32_gemv_rows(const float* w, int64_t ldw, const float* x, int64_t k, int64_t n, float* y) {
  gemv_rows<false>(w, ldw, x, k, n, y);
}

// The same with every w rounded to bfloat16 as it is read (x is rounded by the caller).
void bf16_gemv_rows(const float* w, int64_t ldw, const float* x, int64_t k, int64_t n, float* y) {
  gemv_rows<true>(w, ldw, x, k, n, y);
}
