// Depthwise convolution leaves (one input plane, one kh x kw filter), one body for every ISA:
// included inside namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h). Vectorised
// across the output width exactly like pool_body.h: lane l is output column o0 + l, filter column
// kj reads input column (o0 + l)*sw - pw + kj*dw, and out-of-range lanes are masked (zero padding).
// Contract of each leaf: kernel_table.h.

inline Vec::I dw_cols0(int64_t o0, int64_t sw, int64_t pw) {
  return Vec::addi(Vec::muli(Vec::addi(Vec::set1i(o0), Vec::iota()), sw), Vec::set1i(-pw));
}

// The input columns o0*s - pw + kj + s*l (l < W) of `row` for kj = 0, 1, 2 (s = 1 or 2), read
// without masks: the caller checked they lie inside the row (and, for s = 2, that the two
// vectors loaded per kj do).
inline void dw_taps3(const float* row, int64_t c0, int64_t s, Vec::F v[3]) {
  if (s == 1) {
    v[0] = Vec::loadu(row + c0);
    v[1] = Vec::loadu(row + c0 + 1);
    v[2] = Vec::loadu(row + c0 + 2);
    return;
  }
  constexpr int W = Vec::kWidth;
  Vec::F odd2;
  Vec::deinterleave(Vec::loadu(row + c0), Vec::loadu(row + c0 + W), v[0], v[1]);
  Vec::deinterleave(Vec::loadu(row + c0 + 2), Vec::loadu(row + c0 + 2 + W), v[2], odd2);
}

// One output vector (row oy, columns o0 .. o0 + W) of any geometry, with masked column loads.
inline void dw_vector(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g,
                      int64_t oy, int64_t o0) {
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

// 3x3, stride 1, dilation 1 (MobileNet's layers, and the stride-1 input gradient): four output
// rows per pass share each input row's three column loads (6 rows x 3 loads for 36 FMAs, against
// 9 loads per 9); the column masks (zero padding, the row's last vector) are computed once per
// vector column, and a vector whose taps all lie inside the row uses plain loads. Each output sums
// its taps in the order of dw_vector (ki, then kj, from the bias; rows outside the image skipped),
// so both give the same bits.
inline void dw3x3_s1(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g) {
  constexpr int W = Vec::kWidth, R = 4;
  Vec::F wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = Vec::set1(w[i]);
  for (int64_t o0 = 0; o0 < g.ow; o0 += W) {
    const int64_t c0 = o0 - g.pw;
    const Vec::M lanes = Vec::first(g.ow - o0);
    const bool interior = o0 + W <= g.ow && c0 >= 0 && c0 + W + 2 <= g.w;
    Vec::M m[3];
    for (int kj = 0; kj < 3; ++kj)
      m[kj] = Vec::in_range(Vec::addi(Vec::iota(), Vec::set1i(c0 + kj)), g.w, lanes);
    for (int64_t oy0 = 0; oy0 < g.oh; oy0 += R) {
      const int nr = static_cast<int>(std::min<int64_t>(R, g.oh - oy0));
      Vec::F acc[R];
      for (int r = 0; r < R; ++r) acc[r] = Vec::set1(bias);
#pragma GCC unroll 6
      for (int t = 0; t < R + 2; ++t) {
        const int64_t iy = oy0 - g.ph + t;
        if (t >= nr + 2 || iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w + c0;
        Vec::F v0, v1, v2;
        if (interior) {
          v0 = Vec::loadu(row), v1 = Vec::loadu(row + 1), v2 = Vec::loadu(row + 2);
        } else {
          v0 = Vec::load(m[0], row), v1 = Vec::load(m[1], row + 1), v2 = Vec::load(m[2], row + 2);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int ki = t - r;
          if (ki < 0 || ki > 2) continue;
          acc[r] = Vec::fmadd(wv[3 * ki], v0, acc[r]);
          acc[r] = Vec::fmadd(wv[3 * ki + 1], v1, acc[r]);
          acc[r] = Vec::fmadd(wv[3 * ki + 2], v2, acc[r]);
        }
      }
      for (int r = 0; r < nr; ++r) Vec::store(lanes, y + (oy0 + r) * g.ow + o0, acc[r]);
    }
  }
}

// 3x3, stride 2, dilation 1: per vector column, the masks of the two spans each filter row is read
// from (columns c0 .. c0 + 2W and c0 + 2 .. c0 + 2W + 2, zero padding outside the row) are computed
// once; each filter row's three taps come from two deinterleaved pairs of loads. Same order of
// the sums as dw_vector.
inline void dw3x3_s2(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g) {
  constexpr int W = Vec::kWidth;
  Vec::F wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = Vec::set1(w[i]);
  const Vec::I iota = Vec::iota();
  for (int64_t o0 = 0; o0 < g.ow; o0 += W) {
    const int64_t c0 = 2 * o0 - g.pw;
    const Vec::M lanes = Vec::first(g.ow - o0);
    Vec::M m[4];  // spans [c0, c0 + W), [c0 + W, c0 + 2W), and the same from c0 + 2
    for (int q = 0; q < 4; ++q)
      m[q] = Vec::in_range(Vec::addi(iota, Vec::set1i(c0 + (q & 1) * W + (q >> 1) * 2)), g.w,
                           Vec::all());
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      Vec::F acc = Vec::set1(bias);
      for (int ki = 0; ki < 3; ++ki) {
        const int64_t iy = 2 * oy - g.ph + ki;
        if (iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w + c0;
        Vec::F v0, v1, v2, odd2;
        Vec::deinterleave(Vec::load(m[0], row), Vec::load(m[1], row + W), v0, v1);
        Vec::deinterleave(Vec::load(m[2], row + 2), Vec::load(m[3], row + 2 + W), v2, odd2);
        acc = Vec::fmadd(wv[3 * ki], v0, acc);
        acc = Vec::fmadd(wv[3 * ki + 1], v1, acc);
        acc = Vec::fmadd(wv[3 * ki + 2], v2, acc);
      }
      Vec::store(lanes, y + oy * g.ow + o0, acc);
    }
  }
}

void f32_dwconv2d_plane(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g) {
  if (g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1)
    return dw3x3_s1(x, w, bias, y, g);
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1)
    return dw3x3_s2(x, w, bias, y, g);
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) dw_vector(x, w, bias, y, g, oy, o0);
}

// dx of a 3x3 filter at stride 2 (dilation 1) in gather form: with u = ix + pw, an even u gets
// w[ki][0] * dy[oy][u/2] + w[ki][2] * dy[oy][u/2 - 1] and an odd u gets w[ki][1] * dy[oy][(u-1)/2]
// over the ki with (iy + ph - ki) even, oy = (iy + ph - ki) / 2 in range. 2W columns per step:
// the even and odd sums interleaved, then added to dx once (no gather / scatter per tap).
inline void dw3x3_s2_bwd_data(const float* dy, const float* w, float* dx, const Conv2dGeom& g) {
  constexpr int W = Vec::kWidth;
  const Vec::F w0[3] = {Vec::set1(w[0]), Vec::set1(w[3]), Vec::set1(w[6])};
  const Vec::F w1[3] = {Vec::set1(w[1]), Vec::set1(w[4]), Vec::set1(w[7])};
  const Vec::F w2[3] = {Vec::set1(w[2]), Vec::set1(w[5]), Vec::set1(w[8])};
  const Vec::I iota = Vec::iota();
  for (int64_t iy = 0; iy < g.h; ++iy) {
    const int64_t v = iy + g.ph;
    float* row = dx + iy * g.w;
    for (int64_t u0 = g.pw & ~int64_t(1); u0 < g.pw + g.w; u0 += 2 * W) {
      const int64_t t0 = u0 / 2;
      const Vec::M m_cur = Vec::in_range(Vec::addi(iota, Vec::set1i(t0)), g.ow, Vec::all());
      const Vec::M m_prev = Vec::in_range(Vec::addi(iota, Vec::set1i(t0 - 1)), g.ow, Vec::all());
      Vec::F even = Vec::zero(), odd = Vec::zero();
      for (int ki = 0; ki < 3; ++ki) {
        if ((v - ki) % 2 != 0 || v - ki < 0) continue;
        const int64_t oy = (v - ki) / 2;
        if (oy >= g.oh) continue;
        const float* d = dy + oy * g.ow;
        const Vec::F cur = Vec::load(m_cur, d + t0), prev = Vec::load(m_prev, d + t0 - 1);
        even = Vec::fmadd(w0[ki], cur, even);
        even = Vec::fmadd(w2[ki], prev, even);
        odd = Vec::fmadd(w1[ki], cur, odd);
      }
      Vec::F lo, hi;
      Vec::interleave(even, odd, lo, hi);
      const int64_t ix0 = u0 - g.pw;
      const Vec::M s_lo = Vec::in_range(Vec::addi(iota, Vec::set1i(ix0)), g.w, Vec::all());
      const Vec::M s_hi = Vec::in_range(Vec::addi(iota, Vec::set1i(ix0 + W)), g.w, Vec::all());
      Vec::store(s_lo, row + ix0, Vec::add(Vec::load(s_lo, row + ix0), lo));
      Vec::store(s_hi, row + ix0 + W, Vec::add(Vec::load(s_hi, row + ix0 + W), hi));
    }
  }
}

void f32_dwconv2d_plane_bwd_data(const float* dy, const float* w, float* dx, const Conv2dGeom& g) {
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1)
    return dw3x3_s2_bwd_data(dy, w, dx, g);
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

// dW of a 3x3 filter at stride 1 or 2 (dilation 1): one pass over dy, nine accumulators, each dy
// vector loaded once for its nine taps; per vector column the input masks (zero padding, the
// row's last vector) are computed once, and interior columns read without masks. Sums over
// (column, row) -- another order than the general kernel below.
inline void dw3x3_bwd_weight(const float* x, const float* dy, float* dw, const Conv2dGeom& g) {
  constexpr int W = Vec::kWidth;
  const int64_t s = g.sw;
  const Vec::I iota = Vec::iota();
  Vec::F acc[9];
  for (int i = 0; i < 9; ++i) acc[i] = Vec::zero();
  for (int64_t o0 = 0; o0 < g.ow; o0 += W) {
    const Vec::M lanes = Vec::first(g.ow - o0);
    const int64_t c0 = o0 * s - g.pw;
    const bool interior = o0 + W <= g.ow && c0 >= 0 && c0 + s * W + 2 <= g.w;
    Vec::M m[4];  // s = 1: taps kj = 0, 1, 2; s = 2: the two spans from c0 and from c0 + 2
    for (int q = 0; q < 4; ++q) {
      const int64_t start = s == 1 ? c0 + q : c0 + (q & 1) * W + (q >> 1) * 2;
      m[q] = Vec::in_range(Vec::addi(iota, Vec::set1i(start)), g.w, s == 1 ? lanes : Vec::all());
    }
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const Vec::F grad = Vec::load(lanes, dy + oy * g.ow + o0);
      for (int64_t ki = 0; ki < 3; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki;
        if (iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w + c0;
        Vec::F v[3];
        if (interior) {
          dw_taps3(row, 0, s, v);
        } else if (s == 1) {
          for (int kj = 0; kj < 3; ++kj) v[kj] = Vec::load(m[kj], row + kj);
        } else {
          Vec::F odd2;
          Vec::deinterleave(Vec::load(m[0], row), Vec::load(m[1], row + W), v[0], v[1]);
          Vec::deinterleave(Vec::load(m[2], row + 2), Vec::load(m[3], row + 2 + W), v[2], odd2);
          // lanes past the row's outputs: zero, not an input value (0 * inf would be NaN)
          for (int kj = 0; kj < 3; ++kj) v[kj] = Vec::select(lanes, Vec::zero(), v[kj]);
        }
        for (int kj = 0; kj < 3; ++kj) acc[3 * ki + kj] = Vec::fmadd(grad, v[kj], acc[3 * ki + kj]);
      }
    }
  }
  for (int i = 0; i < 9; ++i) dw[i] += Vec::hsum(acc[i]);
}

void f32_dwconv2d_plane_bwd_weight(const float* x, const float* dy, float* dw, const Conv2dGeom& g) {
  if (g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && (g.sw == 1 || g.sw == 2))
    return dw3x3_bwd_weight(x, dy, dw, g);
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
