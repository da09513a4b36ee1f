// Test hooks (issue 13, point 4): the REGISTERED micro-kernels of the active ISA's table (the `isa`
// fixture of tests/conftest.py selects it) called directly on caller-packed panels, so
// tests/kernels/test_ukr.py can check each one on XNNPACK-style cases (k_lt_kr, m_subtile,
// n_eq_nr, strided_c, ...). Each hook copies its c / y argument, runs the kernel on the copy and
// returns it: cells outside the m x n tile come back as the caller gave them. Checks go only as far
// as needed for no kernel access to leave the arrays given.
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "fastnn/kernel_table.h"

namespace fastnn {

namespace {

// A 64-byte aligned copy (packed B panels are read with aligned loads).
template <class T>
struct AlignedCopy {
  T* p;
  AlignedCopy(const T* src, int64_t count, int64_t padded) {
    const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(padded, 1)) * sizeof(T) + 63) / 64) * 64;
    p = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    std::copy(src, src + count, p);
  }
  ~AlignedCopy() { std::free(p); }
  AlignedCopy(const AlignedCopy&) = delete;
  AlignedCopy& operator=(const AlignedCopy&) = delete;
};

// `obj` as a C-contiguous array of exactly the element kind of T ('f', 'i' or 'u' with T's size),
// TypeError naming it otherwise; ndim checked.
template <class T>
py::array_t<T, py::array::c_style> typed(const py::handle& obj, const char* name, int ndim) {
  py::array arr = as_array(obj, name);
  const py::dtype want = py::dtype::of<T>();
  if (arr.dtype().kind() != want.kind() || arr.dtype().itemsize() != want.itemsize())
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(want)) +
                         ", got " + std::string(py::str(arr.dtype())));
  check_ndim(arr, name, ndim);
  return c_array<T>(arr, name);
}

// A fresh copy of the 2-D output `c` with at least `m` rows and `n` columns; ld = its row stride.
template <class T>
py::array_t<T, py::array::c_style> out_copy(const py::handle& obj, const char* name, int64_t m,
                                            int64_t n) {
  auto c = typed<T>(obj, name, 2);
  if (c.shape(0) < m || c.shape(1) < n)
    throw py::value_error(std::string(name) + ": expected at least " + std::to_string(m) + " x " +
                          std::to_string(n) + ", got shape " + shape_str(c));
  py::array_t<T, py::array::c_style> out({c.shape(0), c.shape(1)});
  std::copy(c.data(), c.data() + c.size(), out.mutable_data());
  return out;
}

// f32 GEMM micro-kernel: a (k, mr) packed A panel, b (k, nr) packed B panel, c (>= m, ldc >= n).
py::array_t<float> ukr_f32_gemm(const py::handle& a_obj, const py::handle& b_obj,
                                const py::handle& c_obj, int64_t m, int64_t n, float alpha,
                                bool accumulate, const std::string& tile) {
  const KernelTable& t = kernels();
  F32GemmTile tl;
  if (tile == "main") tl = F32GemmTile{t.f32_mr, t.f32_nr, t.f32_gemm_ukr};
  else if (tile == "narrow") tl = t.f32_gemm_narrow;
  else throw py::value_error("tile: expected 'main' or 'narrow', got '" + tile + "'");
  if (!tl.ukr) throw py::value_error("tile: this ISA's table has no '" + tile + "' tile");
  auto a = typed<float>(a_obj, "a", 2);
  auto b = typed<float>(b_obj, "b", 2);
  const int64_t k = a.shape(0);
  check_range(k, "k (a.shape[0])", 1, INT32_MAX);
  check_shape(a, "a", {k, tl.mr});
  check_shape(b, "b", {k, tl.nr});
  check_range(m, "m", 1, tl.mr);
  check_range(n, "n", 1, tl.nr);
  auto c = out_copy<float>(c_obj, "c", m, n);
  AlignedCopy<float> pa(a.data(), a.size(), a.size()), pb(b.data(), b.size(), b.size());
  float* cp = c.mutable_data();
  const int64_t ldc = c.shape(1);
  {
    py::gil_scoped_release nogil;
    tl.ukr(k, pa.p, pb.p, cp, ldc, m, n, alpha, accumulate ? 1 : 0);
  }
  return c;
}

// A per-column epilogue vector (length >= n), zero-padded to the 32 columns a panel reads.
template <class T>
std::vector<T> col_vec(const py::handle& obj, const char* name, int64_t n) {
  std::vector<T> v(kS8NR, T(0));
  if (obj.is_none()) return v;
  auto arr = typed<T>(obj, name, 1);
  if (arr.shape(0) < n || arr.shape(0) > kS8NR)
    throw py::value_error(std::string(name) + ": expected length n..32 (n = " + std::to_string(n) +
                          "), got shape " + shape_str(arr));
  std::copy(arr.data(), arr.data() + arr.shape(0), v.begin());
  return v;
}

// u8 x s8 micro-kernel, direct A: a (>= m, 4*kg) u8 rows, b (kg, 32, 4) s8 packed panel, c an
// output of the dtype `out` names ("s32" int32, "f32" float32, "u8" uint8) with >= m rows, >= n cols.
py::array ukr_s8_gemm(const py::handle& a_obj, const py::handle& b_obj, const py::handle& c_obj,
                      int64_t m, int64_t n, const std::string& out, const py::handle& offset_obj,
                      const py::handle& scale_obj, const py::handle& shift_obj, float lo, float hi,
                      bool relu) {
  const KernelTable& t = kernels();
  auto a = typed<uint8_t>(a_obj, "a", 2);
  auto b = typed<int8_t>(b_obj, "b", 3);
  const int64_t kg = b.shape(0);
  check_shape(b, "b", {kg, kS8NR, kS8KG});
  check_shape(a, "a", {a.shape(0), kS8KG * kg});
  check_range(m, "m", 1, std::min<int64_t>(t.s8_mr, a.shape(0)));
  check_range(n, "n", 1, kS8NR);
  S8Epilogue ep;
  const auto offset = col_vec<int32_t>(offset_obj, "offset", n);
  const auto scale = col_vec<float>(scale_obj, "scale", n);
  const auto shift = col_vec<float>(shift_obj, "shift", n);
  ep.offset = offset.data();
  ep.scale = scale.data();
  ep.shift = shift.data();
  ep.lo = lo;
  ep.hi = hi;
  ep.relu = relu ? 1 : 0;
  py::array c;
  void* cp = nullptr;
  if (out == "s32") {
    auto cc = out_copy<int32_t>(c_obj, "c", m, n);
    cp = cc.mutable_data();
    c = cc;
    ep.out = S8Out::s32;
  } else if (out == "f32") {
    auto cc = out_copy<float>(c_obj, "c", m, n);
    cp = cc.mutable_data();
    c = cc;
    ep.out = S8Out::f32;
  } else if (out == "u8") {
    auto cc = out_copy<uint8_t>(c_obj, "c", m, n);
    cp = cc.mutable_data();
    c = cc;
    ep.out = S8Out::u8;
  } else {
    throw py::value_error("out: expected 's32', 'f32' or 'u8', got '" + out + "'");
  }
  const int64_t ldc = c.shape(1), lda = a.shape(1);
  AlignedCopy<int8_t> pb(b.data(), b.size(), b.size());
  // Rows past m are never read; a one-row buffer still gets a readable pointer when kg == 0.
  AlignedCopy<uint8_t> pa(a.data(), a.size(), std::max<int64_t>(a.size(), 4));
  {
    py::gil_scoped_release nogil;
    t.s8_gemm_ukr(kg, pa.p, lda, kS8KG, pb.p, cp, ldc, m, n, ep);
  }
  return c;
}

// CSR rows times a dense panel: y (>= m, ldy >= n) = act(bias + W x), x (rows, ldx >= n).
py::array_t<float> ukr_spmm(const py::handle& row_ptr_obj, const py::handle& col_obj,
                            const py::handle& val_obj, const py::handle& x_obj,
                            const py::handle& bias_obj, const py::handle& y_obj, int64_t n,
                            bool relu) {
  const KernelTable& t = kernels();
  auto row_ptr = typed<int64_t>(row_ptr_obj, "row_ptr", 1);
  auto col = typed<int32_t>(col_obj, "col", 1);
  auto val = typed<float>(val_obj, "val", 1);
  auto x = typed<float>(x_obj, "x", 2);
  const int64_t m = row_ptr.shape(0) - 1, nnz = col.shape(0);
  check_range(m, "m (len(row_ptr) - 1)", 1, INT32_MAX);
  check_shape(val, "val", {nnz});
  check_range(n, "n", 1, x.shape(1));
  const int64_t* rp = row_ptr.data();
  for (int64_t o = 0; o <= m; ++o) {
    check_range(rp[o], "row_ptr[" + std::to_string(o) + "]", o ? rp[o - 1] : 0, nnz);
  }
  for (int64_t p = rp[0]; p < rp[m]; ++p)
    check_range(col.data()[p], "col[" + std::to_string(p) + "]", 0, x.shape(0) - 1);
  py::array_t<float, py::array::c_style> bias_keep;
  const float* bias = nullptr;
  if (!bias_obj.is_none()) {
    bias_keep = typed<float>(bias_obj, "bias", 1);
    check_shape(bias_keep, "bias", {m});
    bias = bias_keep.data();
  }
  auto y = out_copy<float>(y_obj, "y", m, n);
  Epilogue ep;
  ep.act = relu ? Act::relu : Act::none;
  float* yp = y.mutable_data();
  const int64_t ldx = x.shape(1), ldy = y.shape(1);
  {
    py::gil_scoped_release nogil;
    t.f32_spmm(m, n, rp, col.data(), val.data(), x.data(), ldx, bias, yp, ldy, ep);
  }
  return y;
}

}  // namespace

void bind_ukr(py::module_& m) {
  m.def("_ukr_f32_gemm", &ukr_f32_gemm, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("m"),
        py::arg("n"), py::arg("alpha") = 1.0f, py::arg("accumulate") = false,
        py::arg("tile") = "main",
        "Test hook: the active table's f32 GEMM micro-kernel ('main' or 'narrow' tile) on packed "
        "panels a (k, mr), b (k, nr); returns a copy of c with its m x n tile written.");
  m.def("_ukr_s8_gemm", &ukr_s8_gemm, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("m"),
        py::arg("n"), py::arg("out") = "s32", py::arg("offset") = py::none(),
        py::arg("scale") = py::none(), py::arg("shift") = py::none(), py::arg("lo") = 0.0f,
        py::arg("hi") = 255.0f, py::arg("relu") = false,
        "Test hook: the active table's u8 x s8 micro-kernel, direct A rows a (>= m, 4*kg) u8, "
        "packed panel b (kg, 32, 4) s8; returns a copy of c with its m x n tile written.");
  m.def("_ukr_spmm", &ukr_spmm, py::arg("row_ptr"), py::arg("col"), py::arg("val"), py::arg("x"),
        py::arg("bias"), py::arg("y"), py::arg("n"), py::arg("relu") = false,
        "Test hook: the active table's f32_spmm (CSR rows times the dense panel x); returns a copy "
        "of y with its m x n block written.");
  m.def(
      "_ukr_tiles",
      []() {
        const KernelTable& t = kernels();
        py::dict d;
        d["f32_main"] = py::make_tuple(t.f32_mr, t.f32_nr);
        d["f32_narrow"] = t.f32_gemm_narrow.ukr
                              ? py::object(py::make_tuple(t.f32_gemm_narrow.mr, t.f32_gemm_narrow.nr))
                              : py::object(py::none());
        d["s8"] = py::make_tuple(t.s8_mr, kS8NR);
        d["spmm_nb"] = t.spmm_nb;
        return d;
      },
      "Test hook: the active table's register tiles: f32_main (mr, nr), f32_narrow (mr, nr) or "
      "None, s8 (mr, 32), spmm_nb (the panel columns one spmm register tile covers).");
}

}  // namespace fastnn
