// Test hooks ([layers: conv, pool, batchnorm]): the conv/pool leaf kernels of the active ISA on
// caller-given arrays, so tests/kernels can check each leaf (edge tiles, masks, tails) against a
// plain reference. Every index a leaf will touch is checked here first.
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "bind_layers_common.h"
#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;

// The leaves read packed panels with aligned loads: a 64-byte aligned copy.
struct Aligned {
  float* p;
  explicit Aligned(const float* src, int64_t count) {
    const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(count, 1)) * 4 + 63) / 64) * 64;
    p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    std::copy(src, src + count, p);
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
};
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// dst (len x ld) = transpose_rows(rows of src (nrows x len), width, add).
py::array_t<float> transpose_rows(const F32& src, int64_t ld, int64_t width, const py::handle& add_obj) {
  check_ndim(src, "src", 2);
  const int64_t nrows = src.shape(0), len = src.shape(1);
  if (!(nrows <= width && width <= ld)) throw py::value_error("need nrows <= width <= ld");
  py::array_t<float> keep;
  const float* add = optional_vec(add_obj, "add", len, keep);
  py::array_t<float> dst({len, ld});
  std::fill(dst.mutable_data(), dst.mutable_data() + len * ld, -7.0f);  // untouched marker
  std::vector<const float*> rows(static_cast<size_t>(nrows));
  for (int64_t r = 0; r < nrows; ++r) rows[r] = src.data() + r * len;
  kernels().f32_transpose_rows(rows.data(), nrows, len, ld, width, add, dst.mutable_data());
  return dst;
}

// dst (rows x dld) with dst[r][t] = src[r][t - lead] inside, 0 outside, t < n_dst.
py::array_t<float> copy_rows_padded(const F32& src, int64_t lead, int64_t n_dst, int64_t dld) {
  check_ndim(src, "src", 2);
  const int64_t rows = src.shape(0), n_src = src.shape(1);
  if (n_dst > dld || n_dst < 0) throw py::value_error("need 0 <= n_dst <= dld");
  py::array_t<float> dst({rows, dld});
  std::fill(dst.mutable_data(), dst.mutable_data() + rows * dld, -7.0f);
  kernels().f32_copy_rows_padded(src.data(), n_src, n_src, lead, rows, dst.mutable_data(), dld, n_dst);
  return dst;
}

// c (m x n, row stride ldc) = [c +] conv_ukr(k, a_base, a_off, b). b: k x conv_nr; the leaf reads
// conv_mr values at each a_off[p].
py::array_t<float> conv_ukr(const F32& a_base, const I64& a_off, int64_t a_step, const F32& b,
                            py::array_t<float> c, int64_t m, int64_t n, bool accumulate) {
  const KernelTable& t = kernels();
  check_ndim(b, "b", 2);
  const int64_t k = a_off.shape(0);
  check_shape(b, "b", {k, t.conv_nr});
  if (m < 1 || m > t.conv_mr || n < 1 || n > t.conv_nr) throw py::value_error("tile size");
  for (int64_t p = 0; p < k; ++p)
    if (a_step < 1 || a_off.data()[p] < 0 || a_off.data()[p] + (t.conv_mr - 1) * a_step >= a_base.shape(0))
      throw py::value_error("a_off");
  c = check_out(c, "c", {m, -1});
  if (c.shape(1) < n) throw py::value_error("c too narrow");
  const Aligned bb(b.data(), k * t.conv_nr);
  t.f32_conv_ukr(k, a_base.data(), a_off.data(), a_step, bb.p, c.mutable_data(), c.shape(1), m, n,
                 accumulate ? 1 : 0);
  return c;
}

// c (m x n) = [c +] conv_wgrad_ukr(rows of a (m x (rows*a_stride)), b (rows*row_len x conv_nr)).
py::array_t<float> conv_wgrad_ukr(const F32& a, int64_t rows, int64_t row_len, int64_t a_stride,
                                  int64_t a_step, const F32& b, py::array_t<float> c, int64_t n,
                                  bool accumulate) {
  const KernelTable& t = kernels();
  check_ndim(a, "a", 2);
  const int64_t m = a.shape(0);
  if (m < 1 || m > t.conv_mr || n < 1 || n > t.conv_nr) throw py::value_error("tile size");
  if (a_step < 1 || (row_len - 1) * a_step >= a_stride || a.shape(1) < rows * a_stride)
    throw py::value_error("a too short");
  check_shape(b, "b", {rows * row_len, t.conv_nr});
  c = check_out(c, "c", {m, -1});
  if (c.shape(1) < n) throw py::value_error("c too narrow");
  std::vector<const float*> ar(static_cast<size_t>(t.conv_mr));
  for (int64_t i = 0; i < t.conv_mr; ++i) ar[i] = a.data() + std::min(i, m - 1) * a.shape(1);
  const Aligned bb(b.data(), rows * row_len * t.conv_nr);
  t.f32_conv_wgrad_ukr(ar.data(), rows, row_len, a_stride, a_step, bb.p, c.mutable_data(), c.shape(1), m,
                       n, accumulate ? 1 : 0);
  return c;
}

}  // namespace

void bind_conv_leaves(py::module_& m) {
  m.def("_leaf_transpose_rows", &transpose_rows, py::arg("src"), py::arg("ld"), py::arg("width"),
        py::arg("add") = py::none());
  m.def("_leaf_copy_rows_padded", &copy_rows_padded, py::arg("src"), py::arg("lead"), py::arg("n_dst"),
        py::arg("dld"));
  m.def("_leaf_conv_ukr", &conv_ukr, py::arg("a_base"), py::arg("a_off"), py::arg("a_step"),
        py::arg("b"), py::arg("c"), py::arg("m"), py::arg("n"), py::arg("accumulate"));
  m.def("_leaf_conv_wgrad_ukr", &conv_wgrad_ukr, py::arg("a"), py::arg("rows"), py::arg("row_len"),
        py::arg("a_stride"), py::arg("a_step"), py::arg("b"), py::arg("c"), py::arg("n"),
        py::arg("accumulate"));
  m.def("_conv_tile", [] { return py::make_tuple(kernels().conv_mr, kernels().conv_nr); });
}

}  // namespace fastnn
