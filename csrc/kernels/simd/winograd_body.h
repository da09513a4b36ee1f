// Winograd F(m x m, 3 x 3) input and output transforms, one body for every ISA (included inside
// namespace fastnn::<isa> after the vector traits `Vec`). The element-wise products between the
// transforms are GEMMs run by the frame (csrc/frame/conv2d_winograd.cpp); the filter transform is
// computed there too, once per call, in double.
//
// The algorithms (Lavin & Gray 2016) with interpolation points 0, +-1, (+-2,) infinity:
//   F(2, 3), alpha = 4:  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//                        A^T = [1 1 1 0; 0 1 -1 -1]
//   F(4, 3), alpha = 6:  B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
//                               0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1]
//                        A^T = [1 1  1 1  1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
// Each 2-D transform is the 1-D one on the columns, then on the rows. Lanes are tiles: a leaf
// transforms `lanes` tiles at once (lanes a multiple of Vec::kWidth), so every formula runs on
// whole vectors and is written once.

template <int M>
struct WinogradF;

template <>
struct WinogradF<2> {
  static constexpr int kAlpha = 4;
  using F = Vec::F;
  static void input(const F* d, F* o) {  // o = B^T d
    o[0] = Vec::sub(d[0], d[2]);
    o[1] = Vec::add(d[1], d[2]);
    o[2] = Vec::sub(d[2], d[1]);
    o[3] = Vec::sub(d[1], d[3]);
  }
  static void output(const F* s, F* o) {  // o = A^T s
    const F t = Vec::add(s[1], s[2]);
    o[0] = Vec::add(s[0], t);
    o[1] = Vec::sub(Vec::sub(s[1], s[2]), s[3]);
  }
};

template <>
struct WinogradF<4> {
  static constexpr int kAlpha = 6;
  using F = Vec::F;
  static void input(const F* d, F* o) {  // o = B^T d
    const F c4 = Vec::set1(4.0f), c5 = Vec::set1(-5.0f), c2 = Vec::set1(2.0f);
    const F s12 = Vec::add(d[1], d[2]), d12 = Vec::sub(d[1], d[2]);
    const F s34 = Vec::add(d[3], d[4]), d43 = Vec::sub(d[4], d[3]);
    const F d42 = Vec::sub(d[4], d[2]), d31 = Vec::sub(d[3], d[1]);
    o[0] = Vec::fmadd(c4, d[0], Vec::fmadd(c5, d[2], d[4]));
    o[1] = Vec::fmadd(Vec::set1(-4.0f), s12, s34);
    o[2] = Vec::fmadd(c4, d12, d43);
    o[3] = Vec::fmadd(c2, d31, d42);
    o[4] = Vec::fmadd(Vec::set1(-2.0f), d31, d42);
    o[5] = Vec::fmadd(c4, d[1], Vec::fmadd(c5, d[3], d[5]));
  }
  static void output(const F* s, F* o) {  // o = A^T s
    const F p12 = Vec::add(s[1], s[2]), m12 = Vec::sub(s[1], s[2]);
    const F p34 = Vec::add(s[3], s[4]), m34 = Vec::sub(s[3], s[4]);
    o[0] = Vec::add(Vec::add(s[0], p12), p34);
    o[1] = Vec::fmadd(Vec::set1(2.0f), m34, m12);
    o[2] = Vec::fmadd(Vec::set1(4.0f), p34, p12);
    o[3] = Vec::add(Vec::fmadd(Vec::set1(8.0f), m34, m12), s[5]);
  }
};

// v[xi*vs + l] = (B^T d_l B)[xi] for xi = i*alpha + j, where tile l's patch is
// d_l[i][j] = rows[l][off + i*ld + j]. Each patch row is read as 8 floats (Vec::load_rows8, a
// transpose of the lanes' rows), so the rows need 8 - alpha floats of slack after the patch.
template <int M>
void winograd_input_body(const float* const* rows, int64_t off, int64_t ld, int64_t lanes,
                         float* v, int64_t vs) {
  using W = WinogradF<M>;
  constexpr int a = W::kAlpha;
  for (int64_t q = 0; q < lanes; q += Vec::kWidth) {
    Vec::F t[a][a];  // t = d B: the 1-D transform of each patch row
    for (int i = 0; i < a; ++i) {
      Vec::F r8[8];
      Vec::load_rows8(rows + q, off + i * ld, r8);
      W::input(r8, t[i]);
    }
    for (int j = 0; j < a; ++j) {  // B^T t: the 1-D transform of each column
      Vec::F col[a], r[a];
      for (int i = 0; i < a; ++i) col[i] = t[i][j];
      W::input(col, r);
      for (int i = 0; i < a; ++i) Vec::storeu(v + (i * a + j) * vs + q, r[i]);
    }
  }
}

// Tile l's m x m outputs (A^T s_l A) + bias, with s[xi*ss + l] = its products, go to
// rows[i*lanes + l][off + j] (row i of tile l), i, j < M (Vec::store_rows, a transpose of the
// lanes back into rows).
template <int M>
void winograd_output_body(const float* s, int64_t ss, int64_t lanes, float bias,
                          float* const* rows, int64_t off) {
  using W = WinogradF<M>;
  constexpr int a = W::kAlpha;
  const Vec::F vb = Vec::set1(bias);
  for (int64_t q = 0; q < lanes; q += Vec::kWidth) {
    Vec::F t[M][a];  // A^T s: the 1-D transform of each column
    for (int j = 0; j < a; ++j) {
      Vec::F col[a], r[M];
      for (int i = 0; i < a; ++i) col[i] = Vec::loadu(s + (i * a + j) * ss + q);
      W::output(col, r);
      for (int i = 0; i < M; ++i) t[i][j] = r[i];
    }
    for (int i = 0; i < M; ++i) {  // then of each row, + bias
      Vec::F r[M];
      W::output(t[i], r);
      for (int j = 0; j < M; ++j) r[j] = Vec::add(r[j], vb);
      Vec::store_rows(r, M, rows + i * lanes + q, off);
    }
  }
}

void f32_winograd_input(int m, const float* const* rows, int64_t off, int64_t ld, int64_t lanes,
                        float* v, int64_t vs) {
  if (m == 2) return winograd_input_body<2>(rows, off, ld, lanes, v, vs);
  winograd_input_body<4>(rows, off, ld, lanes, v, vs);
}

void f32_winograd_output(int m, const float* s, int64_t ss, int64_t lanes, float bias,
                         float* const* rows, int64_t off) {
  if (m == 2) return winograd_output_body<2>(s, ss, lanes, bias, rows, off);
  winograd_output_body<4>(s, ss, lanes, bias, rows, off);
}
