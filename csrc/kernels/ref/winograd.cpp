// Winograd F(2x2, 3x3) / F(4x4, 3x3) tile transforms: the plain reference, one tile at a time,
// as the matrix products B^T d B and A^T s A with the textbook matrices (Lavin & Gray 2016,
// interpolation points 0, +-1, (+-2,) infinity), computed in double. Contracts: kernel_table.h.
#include <cstdint>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

namespace {

constexpr int kMaxAlpha = 6;

// B^T (alpha x alpha) and A^T (m x alpha) of F(m, 3), alpha = m + 2.
constexpr double kBt2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr double kAt2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
constexpr double kBt4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                               {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kAt4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// One r x alpha matrix T (row-major, T[i][k] = t[i*alpha + k]).
struct Mat {
  const double* t;
  int r, alpha;
  double at(int i, int k) const { return t[i * alpha + k]; }
};

Mat input_matrix(int m) { return m == 2 ? Mat{&kBt2[0][0], 4, 4} : Mat{&kBt4[0][0], 6, 6}; }
Mat output_matrix(int m) { return m == 2 ? Mat{&kAt2[0][0], 2, 4} : Mat{&kAt4[0][0], 4, 6}; }

// out = T x T^T for an alpha x alpha x (out: r x r, out[i][j] = sum_k,l T[i][k] x[k][l] T[j][l]).
// Zero coefficients are skipped, so an infinite input spreads as in the formulas (not as NaN).
void sandwich(const Mat& T, const double (&x)[kMaxAlpha][kMaxAlpha],
              double (&out)[kMaxAlpha][kMaxAlpha]) {
  double xt[kMaxAlpha][kMaxAlpha];  // x T^T: alpha x r
  for (int k = 0; k < T.alpha; ++k)
    for (int j = 0; j < T.r; ++j) {
      double s = 0.0;
      for (int l = 0; l < T.alpha; ++l)
        if (T.at(j, l) != 0.0) s += x[k][l] * T.at(j, l);
      xt[k][j] = s;
    }
  for (int i = 0; i < T.r; ++i)
    for (int j = 0; j < T.r; ++j) {
      double s = 0.0;
      for (int k = 0; k < T.alpha; ++k)
        if (T.at(i, k) != 0.0) s += T.at(i, k) * xt[k][j];
      out[i][j] = s;
    }
}

}  // namespace

void f32_winograd_input(int m, const float* const* rows, int64_t off, int64_t ld, int64_t lanes,
                        float* v, int64_t vs) {
  const Mat bt = input_matrix(m);
  const int a = bt.alpha;
  for (int64_t l = 0; l < lanes; ++l) {
    double d[kMaxAlpha][kMaxAlpha], r[kMaxAlpha][kMaxAlpha];
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < a; ++j) d[i][j] = rows[l][off + i * ld + j];
    sandwich(bt, d, r);
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < a; ++j) v[(i * a + j) * vs + l] = static_cast<float>(r[i][j]);
  }
}

void f32_winograd_output(int m, const float* s, int64_t ss, int64_t lanes, float bias,
                         float* const* rows, int64_t off) {
  const Mat at = output_matrix(m);
  const int a = at.alpha;
  for (int64_t l = 0; l < lanes; ++l) {
    double p[kMaxAlpha][kMaxAlpha], r[kMaxAlpha][kMaxAlpha];
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < a; ++j) p[i][j] = s[(i * a + j) * ss + l];
    sandwich(at, p, r);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j)
        rows[i * lanes + l][off + j] = static_cast<float>(r[i][j] + bias);
  }
}

}  // namespace ref
}  // namespace fastnn
