// fastnn._C layer norm, embedding and reduction entry points (frame/layernorm.cpp, embedding.cpp,
// reduce.cpp): check shapes, release the GIL, call. Gradient buffers are accumulated in place, so
// they are taken with check_out (float32, C-contiguous, writeable): never a converted copy.
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "bind_layers_common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

// (rows, cols) of x whose last `ndim_norm` axes are normalised together.
std::pair<int64_t, int64_t> ln_dims(const py::array& x, int64_t ndim_norm) {
  if (ndim_norm < 1 || ndim_norm > x.ndim())
    throw py::value_error("normalized_ndim: expected 1 <= normalized_ndim <= input.ndim (" +
                          std::to_string(x.ndim()) + "), got " + std::to_string(ndim_norm));
  int64_t rows = 1, cols = 1;
  for (py::ssize_t d = 0; d < x.ndim(); ++d) (d < x.ndim() - ndim_norm ? rows : cols) *= x.shape(d);
  if (cols == 0)
    throw py::value_error("input: expected its last " + std::to_string(ndim_norm) +
                          " axes to hold at least one value, got shape " + shape_str(x));
  return {rows, cols};
}

// The float64 statistics of a forward (mean, rstd): any real array-like, as float64.
py::array_t<double> f64_vec(const py::handle& obj, const std::string& name) {
  py::array arr = as_array(obj, name);
  if (arr.dtype().kind() != 'f')
    throw py::type_error(name + ": expected a floating-point array (layernorm_forward's), got "
                         "dtype " + std::string(py::str(arr.dtype())));
  return c_array<double>(arr, name);
}

py::tuple ln_fwd(const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                 int64_t ndim_norm, float eps) {
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [rows, cols] = ln_dims(x, ndim_norm);
  layernorm_check(rows, cols, eps);
  py::array_t<float> wk, bk;
  const float* w = optional_vec(w_obj, "weight", cols, wk);
  const float* b = optional_vec(b_obj, "bias", cols, bk);
  py::array_t<float> y = new_array<float>(shape_of(x), "output");
  py::array_t<double> mean = new_array<double>({rows}, "mean");
  py::array_t<double> rstd = new_array<double>({rows}, "rstd");
  float* yp = y.mutable_data();
  double *mp = mean.mutable_data(), *rp = rstd.mutable_data();
  {
    py::gil_scoped_release nogil;
    layernorm_forward(x.data(), w, b, rows, cols, eps, yp, mp, rp);
  }
  return py::make_tuple(y, mean, rstd);
}

py::object ln_bwd(const py::handle& dy_obj, const py::handle& x_obj, const py::handle& mean_obj,
                  const py::handle& rstd_obj, const py::handle& w_obj, int64_t ndim_norm,
                  bool need_dx, const py::handle& dw_obj, const py::handle& db_obj) {
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [rows, cols] = ln_dims(x, ndim_norm);
  layernorm_check(rows, cols, 0.0f);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_shape(dy, "grad_output", shape_of(x));
  py::array_t<double> mean = f64_vec(mean_obj, "mean"), rstd = f64_vec(rstd_obj, "rstd");
  check_shape(mean, "mean", {rows});
  check_shape(rstd, "rstd", {rows});
  py::array_t<float> wk, dw, db;
  const float* w = optional_vec(w_obj, "weight", cols, wk);
  float* dwp = nullptr;
  float* dbp = nullptr;
  if (!dw_obj.is_none()) dwp = (dw = check_out(dw_obj, "dweight", {cols})).mutable_data();
  if (!db_obj.is_none()) dbp = (db = check_out(db_obj, "dbias", {cols})).mutable_data();
  py::array_t<float> dx;
  float* dxp = nullptr;
  if (need_dx) dxp = (dx = new_array<float>(shape_of(x), "input gradient")).mutable_data();
  {
    py::gil_scoped_release nogil;
    layernorm_backward(dy.data(), x.data(), mean.data(), rstd.data(), w, rows, cols, dxp, dwp,
                       dbp);
  }
  if (!need_dx) return py::none();
  return std::move(dx);
}

py::array_t<int64_t> indices(const py::handle& obj) {
  py::array arr = as_array(obj, "input");
  const char kind = arr.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("input: expected an integer array of indices, got dtype " +
                         std::string(py::str(arr.dtype())));
  return c_array<int64_t>(arr, "input");
}

py::array_t<float> emb_fwd(const py::handle& idx_obj, const py::handle& w_obj) {
  py::array_t<int64_t> idx = indices(idx_obj);
  py::array_t<float> w = c_f32(w_obj, "weight");
  check_ndim(w, "weight", 2);
  const int64_t num = w.shape(0), dim = w.shape(1);
  std::vector<int64_t> shape = shape_of(idx);
  shape.push_back(dim);
  embedding_check(idx.data(), idx.size(), num, dim);
  py::array_t<float> y = new_array<float>(shape, "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    embedding_forward(idx.data(), idx.size(), w.data(), num, dim, yp);
  }
  return y;
}

void emb_bwd(const py::handle& dy_obj, const py::handle& idx_obj, const py::handle& dw_obj,
             int64_t padding_idx, bool scale_grad_by_freq) {
  py::array_t<int64_t> idx = indices(idx_obj);
  py::array_t<float> dw = check_out(dw_obj, "dweight", {-1, -1});
  check_ndim(dw, "dweight", 2);
  const int64_t num = dw.shape(0), dim = dw.shape(1);
  if (num == 0)
    throw py::value_error("dweight: expected a (num_embeddings >= 1, embedding_dim) gradient, "
                          "got shape " + shape_str(dw));
  std::vector<int64_t> shape = shape_of(idx);
  shape.push_back(dim);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_shape(dy, "grad_output", shape);
  float* dwp = dw.mutable_data();
  py::gil_scoped_release nogil;
  embedding_backward(dy.data(), idx.data(), idx.size(), num, dim, padding_idx,
                     scale_grad_by_freq, dwp);
}

void emb_renorm(const py::handle& idx_obj, const py::handle& w_obj, double max_norm,
                double norm_type) {
  py::array_t<int64_t> idx = indices(idx_obj);
  py::array_t<float> w = check_out(w_obj, "weight", {-1, -1});
  check_ndim(w, "weight", 2);
  float* wp = w.mutable_data();
  py::gil_scoped_release nogil;
  embedding_renorm(idx.data(), idx.size(), wp, w.shape(0), w.shape(1), max_norm, norm_type);
}

int reduce_op(const std::string& op) {
  static const char* const names[] = {"sum",   "mean", "max", "min",      "prod",
                                      "sumsq", "l1",   "l2",  "logsumexp"};
  for (int k = 0; k < 9; ++k)
    if (op == names[k]) return k;
  throw py::value_error(
      "op: expected 'sum', 'mean', 'max', 'min', 'prod', 'sumsq', 'l1', 'l2' or 'logsumexp', "
      "got '" + op + "'");
}

// (outer, r, inner) of x reduced over the axes start .. stop - 1.
std::array<int64_t, 3> reduce_dims(const py::array& x, int64_t start, int64_t stop) {
  if (start < 0 || stop < start || stop > x.ndim())
    throw py::value_error("start, stop: expected 0 <= start <= stop <= input.ndim (" +
                          std::to_string(x.ndim()) + "), got " + std::to_string(start) + ", " +
                          std::to_string(stop));
  std::array<int64_t, 3> d{1, 1, 1};
  for (py::ssize_t a = 0; a < x.ndim(); ++a) d[a < start ? 0 : a < stop ? 1 : 2] *= x.shape(a);
  return d;
}

std::vector<int64_t> reduced_shape(const py::array& x, int64_t start, int64_t stop) {
  std::vector<int64_t> s;
  for (py::ssize_t a = 0; a < x.ndim(); ++a)
    if (a < start || a >= stop) s.push_back(x.shape(a));
  return s;
}

py::array_t<float> red_fwd(const py::handle& x_obj, int64_t start, int64_t stop,
                           const std::string& op) {
  const int o = reduce_op(op);
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [outer, r, inner] = reduce_dims(x, start, stop);
  reduce_check(outer, r, inner, o);
  py::array_t<float> y = new_array<float>(reduced_shape(x, start, stop), "output");
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    reduce_forward(x.data(), outer, r, inner, o, yp);
  }
  return y;
}

py::array_t<float> red_bwd(const py::handle& dy_obj, const py::handle& x_obj,
                           const py::handle& y_obj, int64_t start, int64_t stop,
                           const std::string& op) {
  const int o = reduce_op(op);
  py::array_t<float> x = c_f32(x_obj, "input");
  const auto [outer, r, inner] = reduce_dims(x, start, stop);
  reduce_check(outer, r, inner, o);
  const std::vector<int64_t> out_shape = reduced_shape(x, start, stop);
  py::array_t<float> dy = c_f32(dy_obj, "grad_output");
  check_shape(dy, "grad_output", out_shape);
  py::array_t<float> y = c_f32(y_obj, "output");
  check_shape(y, "output", out_shape);
  py::array_t<float> dx = new_array<float>(shape_of(x), "input gradient");
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    reduce_backward(dy.data(), x.data(), y.data(), outer, r, inner, o, dxp);
  }
  return dx;
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("layernorm_forward", &ln_fwd, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("normalized_ndim"), py::arg("eps"),
        "Layer norm over the last normalized_ndim axes: returns (y, mean, rstd), float64 per row.");
  m.def("layernorm_backward", &ln_bwd, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("normalized_ndim"), py::arg("need_dx"),
        py::arg("dweight"), py::arg("dbias"),
        "Returns dx (or None); accumulates into dweight / dbias (flattened) when given.");
  m.def("embedding_forward", &emb_fwd, py::arg("input"), py::arg("weight"),
        "weight[input]: integer indices of any shape -> (*input.shape, embedding_dim).");
  m.def("embedding_backward", &emb_bwd, py::arg("dy"), py::arg("input"), py::arg("dweight"),
        py::arg("padding_idx"), py::arg("scale_grad_by_freq") = false,
        "Scatter-adds dy into dweight (deterministic); padding_idx (-1: none) gets nothing.");
  m.def("embedding_renorm", &emb_renorm, py::arg("input"), py::arg("weight"),
        py::arg("max_norm"), py::arg("norm_type"),
        "max_norm: rescales in place the rows of weight that input names whose norm exceeds it.");
  m.def("reduce_forward", &red_fwd, py::arg("x"), py::arg("start"), py::arg("stop"),
        py::arg("op"),
        "sum / mean / max / min / prod / sumsq / l1 / l2 / logsumexp of x over the axes "
        "start .. stop - 1 (removed).");
  m.def("reduce_backward", &red_bwd, py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("start"),
        py::arg("stop"), py::arg("op"));
}

}  // namespace fastnn
