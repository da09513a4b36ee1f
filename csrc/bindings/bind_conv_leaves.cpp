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

// These hooks are reachable from Python, so every int is checked like a public function's: a
// range per argument (ValueError naming it), every bound computed with overflow checks.
// Column indices of the row copies live in int32 vector lanes (t - lead + lane): keeping |lead|,
// n_src and n_dst below 2**29 keeps every lane value inside int32.
constexpr int64_t kLaneLimit = int64_t(1) << 29;
constexpr int64_t kInt32Max = INT32_MAX;

// A contiguous int64 vector (offsets): any integer dtype, TypeError otherwise.
py::array_t<int64_t, py::array::c_style> int64_vector(const py::handle& obj, const char* name) {
  py::array arr = as_array(obj, name);
  if (arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u')
    throw py::type_error(std::string(name) + ": expected an integer array, got dtype " +
                         std::string(py::str(arr.dtype())));
  check_ndim(arr, name, 1);
  return c_array<int64_t>(arr, name);
}

// A new (rows, cols) float32 array filled with the "untouched" marker -7.
py::array_t<float> marked(int64_t rows, int64_t cols, const char* name) {
  int64_t count = 0;
  if (!mul_ok(rows, cols, &count))
    throw py::value_error(std::string(name) + ": the output (" + std::to_string(rows) + " x " +
                          std::to_string(cols) + ") has more than 2**63 elements");
  check_allocatable(count, 4, name, "the output");
  py::array_t<float> dst({rows, cols});
  std::fill(dst.mutable_data(), dst.mutable_data() + count, -7.0f);
  return dst;
}

// A buffer c (m rows, at least n columns) the micro-kernels write.
py::array_t<float> tile_out(const py::handle& obj, int64_t m, int64_t n) {
  py::array_t<float> c = check_out(obj, "c", {m, -1});
  if (c.shape(1) < n)
    throw py::value_error("c: expected at least n = " + std::to_string(n) + " columns, got shape " +
                          shape_str(c));
  return c;
}

// dst (len x ld) = transpose_rows(rows of src (nrows x len), width, add).
py::array_t<float> transpose_rows(const py::handle& src_obj, int64_t ld, int64_t width,
                                  const py::handle& add_obj) {
  py::array_t<float> src = c_f32(src_obj, "src");
  check_ndim(src, "src", 2);
  const int64_t nrows = src.shape(0), len = src.shape(1);
  check_range(ld, "ld", 0, kInt32Max);
  check_range(width, "width", nrows, ld);
  py::array_t<float> keep;
  const float* add = optional_vec(add_obj, "add", len, keep);
  py::array_t<float> dst = marked(len, ld, "ld");
  std::vector<const float*> rows(static_cast<size_t>(nrows));
  for (int64_t r = 0; r < nrows; ++r) rows[r] = src.data() + r * len;
  kernels().f32_transpose_rows(rows.data(), nrows, len, ld, width, add, dst.mutable_data());
  return dst;
}

// dst (rows x dld) with dst[r][t] = src[r][t - lead] inside, 0 outside, t < n_dst.
py::array_t<float> copy_rows_padded(const py::handle& src_obj, int64_t lead, int64_t n_dst,
                                    int64_t dld) {
  py::array_t<float> src = c_f32(src_obj, "src");
  check_ndim(src, "src", 2);
  const int64_t rows = src.shape(0), n_src = src.shape(1);
  if (n_src > kLaneLimit)
    throw py::value_error("src: expected at most " + std::to_string(kLaneLimit) +
                          " columns, got shape " + shape_str(src));
  check_range(lead, "lead", -kLaneLimit, kLaneLimit);
  check_range(n_dst, "n_dst", 0, kLaneLimit);
  check_range(dld, "dld", n_dst, kLaneLimit);
  py::array_t<float> dst = marked(rows, dld, "dld");
  kernels().f32_copy_rows_padded(src.data(), n_src, n_src, lead, rows, dst.mutable_data(), dld, n_dst);
  return dst;
}

// c (m x n, row stride ldc) = [c +] conv_ukr(k, a_base, a_off, b). b: k x conv_nr; the leaf reads
// conv_mr values at each a_off[p].
py::array_t<float> conv_ukr(const py::handle& a_base_obj, const py::handle& a_off_obj,
                            int64_t a_step, const py::handle& b_obj, const py::handle& c_obj,
                            int64_t m, int64_t n, bool accumulate) {
  const KernelTable& t = kernels();
  py::array_t<float> a_base = c_f32(a_base_obj, "a_base");
  check_ndim(a_base, "a_base", 1);
  const auto a_off = int64_vector(a_off_obj, "a_off");
  py::array_t<float> b = c_f32(b_obj, "b");
  const int64_t k = a_off.shape(0), len = a_base.shape(0);
  check_shape(b, "b", {k, t.conv_nr});
  check_range(m, "m", 1, t.conv_mr);
  check_range(n, "n", 1, t.conv_nr);
  check_range(a_step, "a_step", 1, std::max<int64_t>(len, 1));
  int64_t span = 0;  // (conv_mr - 1) * a_step: the reach of one step past its offset
  if (!mul_ok(t.conv_mr - 1, a_step, &span))
    throw py::value_error("a_step: (conv_mr - 1) * a_step overflows int64");
  for (int64_t p = 0; p < k; ++p) {
    const int64_t off = a_off.data()[p];
    int64_t last = 0;
    if (off < 0 || !add_ok(off, span, &last) || last >= len)
      throw py::value_error("a_off[" + std::to_string(p) + "]: expected 0 <= a_off and a_off + (" +
                            std::to_string(t.conv_mr) + " - 1) * a_step < len(a_base) = " +
                            std::to_string(len) + ", got a_off = " + std::to_string(off) +
                            " with a_step = " + std::to_string(a_step));
  }
  py::array_t<float> c = tile_out(c_obj, m, n);
  const Aligned bb(b.data(), k * t.conv_nr);
  t.f32_conv_ukr(k, a_base.data(), a_off.data(), a_step, bb.p, c.mutable_data(), c.shape(1), m, n,
                 accumulate ? 1 : 0);
  return c;
}

// c (m x n) = [c +] conv_wgrad_ukr(rows of a (m x (rows*a_stride)), b (rows*row_len x conv_nr)).
py::array_t<float> conv_wgrad_ukr(const py::handle& a_obj, int64_t rows, int64_t row_len,
                                  int64_t a_stride, int64_t a_step, const py::handle& b_obj,
                                  const py::handle& c_obj, int64_t n, bool accumulate) {
  const KernelTable& t = kernels();
  py::array_t<float> a = c_f32(a_obj, "a");
  check_ndim(a, "a", 2);
  const int64_t m = a.shape(0), cols = a.shape(1);
  if (m < 1 || m > t.conv_mr)
    throw py::value_error("a: expected 1 to " + std::to_string(t.conv_mr) + " rows, got shape " +
                          shape_str(a));
  check_range(n, "n", 1, t.conv_nr);
  check_range(rows, "rows", 0, kInt32Max);
  check_range(row_len, "row_len", 1, kInt32Max);
  check_range(a_stride, "a_stride", 1, std::max<int64_t>(cols, 1));
  check_range(a_step, "a_step", 1, a_stride);
  int64_t reach = 0, need = 0, steps = 0;
  if (!mul_ok(row_len - 1, a_step, &reach) || reach >= a_stride)
    throw py::value_error("a_stride: expected (row_len - 1) * a_step < a_stride, got row_len = " +
                          std::to_string(row_len) + ", a_step = " + std::to_string(a_step) +
                          ", a_stride = " + std::to_string(a_stride));
  if (!mul_ok(rows, a_stride, &need) || need > cols)
    throw py::value_error("a: expected at least rows * a_stride = " + std::to_string(rows) + " * " +
                          std::to_string(a_stride) + " columns, got shape " + shape_str(a));
  if (!mul_ok(rows, row_len, &steps))
    throw py::value_error("rows: rows * row_len overflows int64");
  py::array_t<float> b = c_f32(b_obj, "b");
  check_shape(b, "b", {steps, t.conv_nr});
  py::array_t<float> c = tile_out(c_obj, m, n);
  std::vector<const float*> ar(static_cast<size_t>(t.conv_mr));
  for (int64_t i = 0; i < t.conv_mr; ++i) ar[i] = a.data() + std::min(i, m - 1) * cols;
  const Aligned bb(b.data(), steps * t.conv_nr);
  t.f32_conv_wgrad_ukr(ar.data(), rows, row_len, a_stride, a_step, bb.p, c.mutable_data(), c.shape(1),
                       m, n, accumulate ? 1 : 0);
  return c;
}

// The Winograd tile transforms on `lanes` tiles (a multiple of f32_nr: the leaves run whole
// vectors). input: patches (lanes, alpha, 8) (each patch row with its 8 - alpha floats of slack)
// -> v (alpha^2, lanes); output: s (alpha^2, lanes) -> (lanes, m, m) (+ bias).
int64_t winograd_lanes(int64_t lanes, const char* name, const py::array& a) {
  const int64_t nr = kernels().f32_nr;
  if (lanes < 1 || lanes % nr != 0)
    throw py::value_error(std::string(name) + ": expected a positive multiple of " +
                          std::to_string(nr) + " tiles (f32_nr), got shape " + shape_str(a));
  return lanes;
}

void check_winograd_m(int m) {
  if (m != 2 && m != 4) throw py::value_error("m: expected 2 or 4, got " + std::to_string(m));
}

py::array_t<float> winograd_input(int m, const py::handle& patches_obj) {
  check_winograd_m(m);
  py::array_t<float> p = c_f32(patches_obj, "patches");
  const int64_t a = m + 2;
  check_shape(p, "patches", {-1, a, 8});
  const int64_t lanes = winograd_lanes(p.shape(0), "patches", p);
  py::array_t<float> v({a * a, lanes});
  std::vector<const float*> rows(static_cast<size_t>(lanes));
  for (int64_t l = 0; l < lanes; ++l) rows[l] = p.data() + l * a * 8;
  kernels().f32_winograd_input(m, rows.data(), 0, 8, lanes, v.mutable_data(), lanes);
  return v;
}

py::array_t<float> winograd_output(int m, const py::handle& s_obj, float bias) {
  check_winograd_m(m);
  py::array_t<float> s = c_f32(s_obj, "s");
  const int64_t a = m + 2;
  check_shape(s, "s", {a * a, -1});
  const int64_t lanes = winograd_lanes(s.shape(1), "s", s);
  py::array_t<float> out({lanes, int64_t(m), int64_t(m)});
  std::vector<float*> rows(static_cast<size_t>(lanes * m));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t l = 0; l < lanes; ++l) rows[i * lanes + l] = out.mutable_data() + (l * m + i) * m;
  kernels().f32_winograd_output(m, s.data(), lanes, lanes, bias, rows.data(), 0);
  return out;
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
  m.def("_leaf_winograd_input", &winograd_input, py::arg("m"), py::arg("patches"));
  m.def("_leaf_winograd_output", &winograd_output, py::arg("m"), py::arg("s"), py::arg("bias"));
  m.def("_conv_tile", [] { return py::make_tuple(kernels().conv_mr, kernels().conv_nr); });
}

}  // namespace fastnn
