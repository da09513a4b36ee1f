// Depthwise convolution leaves (one input plane, one kh x kw filter), one body for every ISA:
// included inside namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h). Vectorised
// across the output width exactly like pool_body.h: lane l is output column o0 + l, filter column
// kj reads input column (o0 + l)*sw - pw + kj*dw, and out-of-range lanes are masked (zero padding).
// Contract of each leaf: kernel_table.h.

inline Vec::I dw_cols0(int64_t o0, int64_t sw, int64_t pw) {
  return Vec::addi(Vec::muli(Vec::addi(Vec::set1i(o0), Vec::iota()), sw), Vec::set1i(-pw));
}

void f32_dwconv2d_plane(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
      const Vec::M lanes = Vec::first(g.ow - o0);
      const Vec::I cols0 = dw_cols0(o0, g.sw, g.pw);
      Vec::F acc = Vec::set1(bias);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const Vec::I cols = Vec::addi(cols0, Vec::set1i(kj * g.dw));
          const Vec::M m = Vec::in_range(cols, g.w, lanes);
          const Vec::F v = Vec::load_cols(row, o0 * g.sw - g.pw + kj * g.dw, g.sw, g.w, cols, m);
          acc = Vec::fmadd(Vec::set1(w[ki * g.kw + kj]), v, acc);
        }
      }
      Vec::store(lanes, y + oy * g.ow + o0, acc);
    }
  }
}

void f32_dwconv2d_plane_bwd_data(const float* dy, const float* w, float* dx, const Conv2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
      const Vec::M lanes = Vec::first(g.ow - o0);
      const Vec::I cols0 = dw_cols0(o0, g.sw, g.pw);
      const Vec::F grad = Vec::load(lanes, dy + oy * g.ow + o0);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        float* row = dx + iy * g.w;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const Vec::I cols = Vec::addi(cols0, Vec::set1i(kj * g.dw));
          const Vec::M m = Vec::in_range(cols, g.w, lanes);
          Vec::add_cols(row, o0 * g.sw - g.pw + kj * g.dw, g.sw, cols, m,
                        Vec::mul(grad, Vec::set1(w[ki * g.kw + kj])));
        }
      }
    }
  }
}

void f32_dwconv2d_plane_bwd_weight(const float* x, const float* dy, float* dw, const Conv2dGeom& g) {
  // One filter row at a time: its kw taps share each dy load, with one accumulator per tap.
  constexpr int kMaxKw = 16;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    for (int64_t kj0 = 0; kj0 < g.kw; kj0 += kMaxKw) {
      const int64_t nk = std::min<int64_t>(kMaxKw, g.kw - kj0);
      Vec::F acc[kMaxKw];
      for (int64_t j = 0; j < nk; ++j) acc[j] = Vec::zero();
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w;
        for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
          const Vec::M lanes = Vec::first(g.ow - o0);
          const Vec::I cols0 = dw_cols0(o0, g.sw, g.pw);
          const Vec::F grad = Vec::load(lanes, dy + oy * g.ow + o0);
          for (int64_t j = 0; j < nk; ++j) {
            const int64_t kj = kj0 + j;
            const Vec::I cols = Vec::addi(cols0, Vec::set1i(kj * g.dw));
            const Vec::M m = Vec::in_range(cols, g.w, lanes);
            const Vec::F v = Vec::load_cols(row, o0 * g.sw - g.pw + kj * g.dw, g.sw, g.w, cols, m);
            acc[j] = Vec::fmadd(grad, v, acc[j]);
          }
        }
      }
      for (int64_t j = 0; j < nk; ++j) dw[ki * g.kw + kj0 + j] += Vec::hsum(acc[j]);
    }
  }
}
