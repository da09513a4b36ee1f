// Pooling leaves, one body for every ISA: included inside namespace fastnn::<isa> after that ISA's
// `struct Vec` (vec_*.h). Vectorised across the output width: lane l of a chunk is output column
// o0 + l; window column kj of that lane reads input column (o0 + l)*sw - pw + kj. Lanes outside
// [0, w) or past the row end are masked (never read), so the chunk at the row end is the same code
// as the main chunks. Contract of each leaf: kernel_table.h.

// Input column of lane l for window column 0: (o0 + l) * sw - pw.
inline Vec::I pool_cols0(int64_t o0, int64_t sw, int64_t pw) {
  return Vec::addi(Vec::muli(Vec::addi(Vec::set1i(o0), Vec::iota()), sw), Vec::set1i(-pw));
}

// max(best, v) by PyTorch's max-pool rule: v replaces best when greater or NaN (a NaN sticks).
inline Vec::F max_or_nan(Vec::F best, Vec::F v) {
  return Vec::select(Vec::gt_or_nan(Vec::all(), v, best), best, v);
}

// 2 x 2 windows, stride 2, no padding, no dilation, floor mode, values only: the column pairs
// of two input rows, each row loaded contiguously (2 kWidth columns) and split into its even and
// odd columns. The taps are taken in the general loop's order, so NaN and ties resolve the same.
void maxpool2x2_values(const float* x, float* y, const Pool2dGeom& g) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const float* r0 = x + 2 * oy * g.w;
    const float* r1 = r0 + g.w;
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
      const int64_t c0 = 2 * o0, left = g.w - c0;  // input columns from c0 on
      const Vec::M ma = Vec::first(left), mb = Vec::first(left - Vec::kWidth);
      Vec::F e0, d0, e1, d1;
      Vec::deinterleave(Vec::load(ma, r0 + c0), Vec::load(mb, r0 + c0 + Vec::kWidth), e0, d0);
      Vec::deinterleave(Vec::load(ma, r1 + c0), Vec::load(mb, r1 + c0 + Vec::kWidth), e1, d1);
      Vec::F best = max_or_nan(Vec::set1(-INFINITY), e0);
      best = max_or_nan(best, d0);
      best = max_or_nan(best, e1);
      best = max_or_nan(best, d1);
      Vec::store(Vec::first(g.ow - o0), y + oy * g.ow + o0, best);
    }
  }
}

// argmax may be null (values only: inference).
void f32_maxpool2d_plane(const float* x, float* y, int32_t* argmax, const Pool2dGeom& g) {
  if (!argmax && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
      g.dh == 1 && g.dw == 1 && 2 * g.oh <= g.h && 2 * g.ow <= g.w) {
    maxpool2x2_values(x, y, g);
    return;
  }
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + g.kh, g.h);
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
      const Vec::M lanes = Vec::first(g.ow - o0);
      const Vec::I cols0 = pool_cols0(o0, g.sw, g.pw);
      // Start as PyTorch does: -inf at the first real element of the window.
      Vec::F best = Vec::set1(-INFINITY);
      Vec::I best_at = Vec::addi(Vec::set1i(ya * g.w), Vec::maxi(cols0, Vec::set1i(0)));
      for (int64_t iy = ya; iy < yb; ++iy) {
        const float* row = x + iy * g.w;
        const Vec::I row_at = Vec::set1i(iy * g.w);
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const Vec::I cols = Vec::addi(cols0, Vec::set1i(kj));
          const Vec::M m = Vec::in_range(cols, g.w, lanes);
          const Vec::F v = Vec::load_cols(row, o0 * g.sw - g.pw + kj, g.sw, g.w, cols, m);
          const Vec::M better = Vec::gt_or_nan(m, v, best);
          best = Vec::select(better, best, v);
          best_at = Vec::selecti(better, best_at, Vec::addi(row_at, cols));
        }
      }
      Vec::store(lanes, y + oy * g.ow + o0, best);
      if (argmax) Vec::storei(lanes, argmax + oy * g.ow + o0, best_at);
    }
  }
}

// The divisor of average pooling is rows(oy) * g.col_count[ox]: the window's extent clipped to
// the padded input (count_include_pad; the whole kh x kw unless ceil_mode lets a window hang
// over) or to the input. The column extents come from the frame (pool.cpp), once per call.
inline int64_t pool_rows(const Pool2dGeom& g, int64_t y0) {
  return g.count_pad ? std::min<int64_t>(y0 + g.kh, g.h + g.ph) - y0
                     : std::min<int64_t>(y0 + g.kh, g.h) - std::max<int64_t>(y0, 0);
}

// Average pooling's windows, a vector of outputs (oy, o0 .. o0 + kWidth) at a time:
// out(oy, o0, lanes, count, taps) where count is the divisor and taps(f) calls
// f(iy, first column, cols, m) for each window row iy inside the input and each kernel column
// (cols: the lanes' input columns, m: the lanes whose column is inside the input).
template <class Out>
void avgpool_windows(const Pool2dGeom& g, Out&& out) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + g.kh, g.h);
    const Vec::F rows = Vec::set1(static_cast<float>(pool_rows(g, y0)));
    for (int64_t o0 = 0; o0 < g.ow; o0 += Vec::kWidth) {
      const Vec::M lanes = Vec::first(g.ow - o0);
      const Vec::I cols0 = pool_cols0(o0, g.sw, g.pw);
      const Vec::F count = Vec::mul(rows, Vec::load(lanes, g.col_count + o0));
      out(oy, o0, lanes, count, [&](auto&& f) {
        for (int64_t iy = ya; iy < yb; ++iy) {
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const Vec::I cols = Vec::addi(cols0, Vec::set1i(kj));
            f(iy, o0 * g.sw - g.pw + kj, cols, Vec::in_range(cols, g.w, lanes));
          }
        }
      });
    }
  }
}

void f32_avgpool2d_plane(const float* x, float* y, const Pool2dGeom& g) {
  avgpool_windows(g, [&](int64_t oy, int64_t o0, Vec::M lanes, Vec::F count, auto&& taps) {
    Vec::F sum = Vec::zero();
    taps([&](int64_t iy, int64_t c0, Vec::I cols, Vec::M m) {
      sum = Vec::add(sum, Vec::load_cols(x + iy * g.w, c0, g.sw, g.w, cols, m));
    });
    Vec::store(lanes, y + oy * g.ow + o0, Vec::div(sum, count));
  });
}

void f32_avgpool2d_plane_bwd(const float* dy, float* dx, const Pool2dGeom& g) {
  avgpool_windows(g, [&](int64_t oy, int64_t o0, Vec::M lanes, Vec::F count, auto&& taps) {
    const Vec::F share = Vec::div(Vec::load(lanes, dy + oy * g.ow + o0), count);
    taps([&](int64_t iy, int64_t c0, Vec::I cols, Vec::M m) {
      Vec::add_cols(dx + iy * g.w, c0, g.sw, cols, m, share);
    });
  });
}
