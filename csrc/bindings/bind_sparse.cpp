// fastnn._C.SparseMatrix: an opaque CSR weight (outputs x inputs) for pruned layers' inference.
// Built from a dense array (or validated CSR arrays); spmm (x @ W.T, Linear layout) and matmul
// (W @ x, im2col layout) check every argument, release the GIL and call ops.h.
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <memory>
#include <cstdio>
#include <type_traits>

#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using Sparse = std::shared_ptr<CsrMatrix>;

Sparse from_dense(const py::handle& w_obj, float threshold) {
  py::array_t<float> w = as_f32(w_obj, "weight");
  check_ndim(w, "weight", 2);
  if (!(threshold >= 0.0f))
    throw py::value_error("threshold: expected a number >= 0, got " + std::to_string(threshold));
  const MatView v = mat_view(w);
  auto m = std::make_shared<CsrMatrix>();
  {
    py::gil_scoped_release nogil;
    *m = csr_from_dense(v, threshold);
  }
  return m;
}

template <class T>
std::vector<T> to_vector(const py::handle& obj, const char* name) {
  py::array arr = as_array(obj, name);
  const char kind = arr.dtype().kind();
  const bool want_float = std::is_floating_point<T>::value;
  if (want_float ? kind != 'f' : (kind != 'i' && kind != 'u'))
    throw py::type_error(std::string(name) + ": expected " + (want_float ? "a float" : "an integer") +
                         " array, got dtype " + std::string(py::str(arr.dtype())));
  check_ndim(arr, name, 1);
  // Integer inputs pass through int64 so an out-of-range value is caught, not wrapped.
  if (!want_float) {
    auto a64 = c_array<int64_t>(arr, name);
    std::vector<T> out(static_cast<size_t>(a64.size()));
    const int64_t* d = a64.data();
    for (size_t i = 0; i < out.size(); ++i) {
      if (d[i] < std::numeric_limits<T>::min() || d[i] > std::numeric_limits<T>::max())
        throw py::value_error(std::string(name) + ": entry " + std::to_string(i) + " = " +
                              std::to_string(d[i]) + " is out of range");
      out[i] = static_cast<T>(d[i]);
    }
    return out;
  }
  auto a = c_array<T>(arr, name);
  return std::vector<T>(a.data(), a.data() + a.size());
}

Sparse from_csr(const std::vector<int64_t>& shape, const py::handle& row_ptr,
                const py::handle& col_idx, const py::handle& values) {
  if (shape.size() != 2)
    throw py::value_error("shape: expected (rows, cols), got " + std::to_string(shape.size()) +
                          " values");
  auto m = std::make_shared<CsrMatrix>(
      csr_from_arrays(shape[0], shape[1], to_vector<int64_t>(row_ptr, "row_ptr"),
                      to_vector<int32_t>(col_idx, "col_idx"), to_vector<float>(values, "values")));
  return m;
}

template <class T>
py::array_t<T> copy_out(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

py::array_t<float> to_dense(const CsrMatrix& m) {
  py::array_t<float> out({m.rows, m.cols});
  {
    py::gil_scoped_release nogil;
    csr_to_dense(m.view(), out.mutable_data(), m.cols);
  }
  return out;
}

// Shared argument handling of spmm / matmul: x, bias (length rows), out of shape `out_shape`.
struct Call {
  py::array_t<float> x, bias, out;
  bool has_bias = false;
};

Call prepare(const CsrMatrix& m, const py::handle& x_obj, const py::handle& bias_obj,
             const py::handle& out_obj, bool linear) {
  Call c;
  c.x = as_f32(x_obj, "x");
  check_ndim(c.x, "x", 2);
  if (linear) check_shape(c.x, "x", {-1, m.cols});
  else check_shape(c.x, "x", {m.cols, -1});
  c.has_bias = !bias_obj.is_none();
  if (c.has_bias) {
    c.bias = c_f32(bias_obj, "bias");
    check_shape(c.bias, "bias", {m.rows});
  }
  const std::vector<int64_t> shape =
      linear ? std::vector<int64_t>{c.x.shape(0), m.rows} : std::vector<int64_t>{m.rows, c.x.shape(1)};
  if (out_obj.is_none()) {
    c.out = new_array<float>(shape, "out");
  } else {
    c.out = check_out(out_obj, "out", shape);
    if (overlaps(c.out, c.x) || (c.has_bias && overlaps(c.out, c.bias)))
      throw py::value_error("out: must not share memory with x or bias");
  }
  return c;
}

Epilogue epilogue(bool relu) {
  Epilogue ep;
  ep.act = relu ? Act::relu : Act::none;
  return ep;
}

// spmm (linear: x @ W.T, x batch x cols) or matmul (W @ x, x cols x n): one call path.
py::array_t<float> sparse_call(const Sparse& m, const py::handle& x, const py::handle& bias,
                               bool relu, const py::handle& out, bool linear) {
  Call c = prepare(*m, x, bias, out, linear);
  const MatView xv = mat_view(c.x);
  const float* b = c.has_bias ? c.bias.data() : nullptr;
  float* y = c.out.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (linear)
      sparse_linear(m->view(), xv, b, epilogue(relu), y, m->rows);
    else
      sparse_matmul(m->view(), xv, b, epilogue(relu), y, xv.cols);
  }
  return c.out;
}

py::array_t<float> spmm(const Sparse& m, const py::handle& x, const py::handle& bias, bool relu,
                        const py::handle& out) {
  return sparse_call(m, x, bias, relu, out, /*linear=*/true);
}

py::array_t<float> matmul(const Sparse& m, const py::handle& x, const py::handle& bias, bool relu,
                          const py::handle& out) {
  return sparse_call(m, x, bias, relu, out, /*linear=*/false);
}

double sparsity(const CsrMatrix& m) {
  const double size = static_cast<double>(m.rows) * static_cast<double>(m.cols);
  return size > 0 ? 1.0 - static_cast<double>(m.nnz()) / size : 0.0;
}

}  // namespace

void bind_sparse(py::module_& m) {
  py::class_<CsrMatrix, std::shared_ptr<CsrMatrix>>(
      m, "SparseMatrix",
      "A sparse (outputs x inputs) float32 weight in compressed sparse row form (immutable).")
      .def_static("from_dense", &from_dense, py::arg("weight"), py::arg("threshold") = 0.0f,
                  "Keep the entries with |w| > threshold (0: drop exact zeros; NaN is kept).")
      .def_static("from_csr", &from_csr, py::arg("shape"), py::arg("row_ptr"), py::arg("col_idx"),
                  py::arg("values"),
                  "From CSR arrays (validated: offsets from 0 to nnz, non-decreasing; columns in "
                  "range and strictly increasing within a row). The arrays are copied.")
      .def_property_readonly("shape", [](const CsrMatrix& s) { return py::make_tuple(s.rows, s.cols); })
      .def_property_readonly("nnz", &CsrMatrix::nnz)
      .def_property_readonly("sparsity", &sparsity, "Fraction of entries not stored.")
      .def_property_readonly("nbytes", &CsrMatrix::nbytes,
                             "Bytes as stored: 4 per value, 4 per column index, 8 per row offset.")
      .def_property_readonly("row_ptr", [](const CsrMatrix& s) { return copy_out(s.row_ptr); })
      .def_property_readonly("col_idx", [](const CsrMatrix& s) { return copy_out(s.col); })
      .def_property_readonly("values", [](const CsrMatrix& s) { return copy_out(s.val); })
      .def("to_dense", &to_dense)
      .def("spmm", &spmm, py::arg("x"), py::arg("bias") = py::none(), py::arg("relu") = false,
           py::arg("out") = py::none(),
           "x (batch, inputs) -> x @ W.T + bias (batch, outputs), ReLU fused if relu.")
      .def("matmul", &matmul, py::arg("x"), py::arg("bias") = py::none(), py::arg("relu") = false,
           py::arg("out") = py::none(),
           "x (inputs, n) -> W @ x + bias[:, None] (outputs, n), ReLU fused if relu.")
      .def("__repr__", [](const CsrMatrix& s) {
        char sp[32];
        std::snprintf(sp, sizeof sp, "%g", static_cast<double>(sparsity(s)));
        return "SparseMatrix(shape=(" + std::to_string(s.rows) + ", " + std::to_string(s.cols) +
               "), nnz=" + std::to_string(s.nnz()) + ", sparsity=" + sp + ")";
      });
}

}  // namespace fastnn
