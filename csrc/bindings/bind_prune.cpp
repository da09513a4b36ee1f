// Pruning entry points: mask_apply (in place), magnitude_masks (the selection of magnitude_prune),
// unit_norms (unit_prune's criterion) and sparse_conv2d (a pruned Conv2d's inference with a
// SparseMatrix weight). Check, release the GIL, call ops.h.
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using CArray = py::array_t<float>;  // always C-contiguous here (common.h c_f32)

// A mask for an array of shape `shape`: float32 of that shape (read as C order; copied if it is
// not contiguous float32).
CArray mask_for(const py::handle& obj, const std::string& name, const std::vector<int64_t>& shape) {
  py::array_t<float> m = c_f32(obj, name);
  check_shape(m, name, shape);
  return m;
}

void mask_apply_py(const py::handle& x_obj, const py::handle& mask_obj) {
  if (!py::isinstance<py::array>(x_obj))
    throw py::type_error("data: expected a numpy.ndarray of float32");
  const std::vector<int64_t> shape = shape_of(py::reinterpret_borrow<py::array>(x_obj));
  py::array_t<float> x = check_out(x_obj, "data", shape);
  CArray m = mask_for(mask_obj, "mask", shape);
  if (overlaps(x, m)) throw py::value_error("mask: must not share memory with data");
  float* xp = x.mutable_data();
  const float* mp = m.data();
  const int64_t n = x.size();
  py::gil_scoped_release nogil;
  mask_apply(xp, mp, n);
}

py::list magnitude_masks_py(const py::sequence& weights, const py::sequence& masks,
                            int64_t n_zero) {
  const size_t n = py::len(weights);
  if (py::len(masks) != n)
    throw py::value_error("masks: expected " + std::to_string(n) + " entries (one per weight), got " +
                          std::to_string(py::len(masks)));
  std::vector<CArray> w(n), m(n);
  std::vector<py::array_t<float>> out(n);
  std::vector<PruneTensor> t(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string idx = "[" + std::to_string(i) + "]";
    w[i] = c_f32(weights[i], "weights" + idx);
    const std::vector<int64_t> shape = shape_of(w[i]);
    if (!masks[i].is_none()) m[i] = mask_for(masks[i], "masks" + idx, shape);
    out[i] = py::array_t<float>(shape);
    t[i].w = w[i].data();
    t[i].mask = masks[i].is_none() ? nullptr : m[i].data();
    t[i].out = out[i].mutable_data();
    t[i].n = w[i].size();
  }
  {
    py::gil_scoped_release nogil;
    magnitude_masks(t, n_zero);
  }
  py::list result;
  for (auto& o : out) result.append(o);
  return result;
}

py::array_t<double> unit_norms_py(const py::handle& w_obj, int p) {
  CArray w = c_f32(w_obj, "weight");
  if (w.ndim() < 1) throw py::value_error("weight: expected at least 1 dimension, got a scalar");
  const int64_t rows = w.shape(0);
  const int64_t cols = rows > 0 ? w.size() / rows : 0;
  py::array_t<double> norms(rows);
  const float* wp = w.data();
  double* np_ = norms.mutable_data();
  {
    py::gil_scoped_release nogil;
    row_norms(wp, rows, cols, p, np_);
  }
  return norms;
}

using Pair = std::array<int64_t, 2>;

py::array_t<float> sparse_conv2d_py(const std::shared_ptr<CsrMatrix>& m, const py::handle& x_obj,
                                    const py::handle& bias_obj, Pair kernel, Pair stride,
                                    Pair padding, Pair dilation, bool relu) {
  if (!m) throw py::type_error("weight: expected a SparseMatrix, got None");
  CArray x = c_f32(x_obj, "x");
  check_ndim(x, "x", 4);
  SparseConvShape s;
  s.h = x.shape(2);
  s.w = x.shape(3);
  s.kh = kernel[0];
  s.kw = kernel[1];
  s.sh = stride[0];
  s.sw = stride[1];
  s.ph = padding[0];
  s.pw = padding[1];
  s.dh = dilation[0];
  s.dw = dilation[1];
  // Range checks on every hyper-parameter (ValueError naming it), overflow-checked extents; no
  // window fitting: sparse_conv2d reports it.
  s.set_out(s.h, s.w, "sparse_conv2d");
  const int64_t taps = s.kh * s.kw;  // each <= 2**31 - 1 (checked): no overflow
  if (m->cols % taps != 0)
    throw py::value_error("weight: " + std::to_string(m->cols) + " columns is not in_channels * " +
                          std::to_string(taps) + " taps");
  s.c = m->cols / taps;
  check_shape(x, "x", {-1, s.c, -1, -1});
  CArray bias;
  const bool has_bias = !bias_obj.is_none();
  if (has_bias) {
    bias = c_f32(bias_obj, "bias");
    check_shape(bias, "bias", {m->rows});
  }
  const int64_t n = x.shape(0);
  py::array_t<float> y = new_array<float>({n, m->rows, s.oh, s.ow}, "output");
  Epilogue ep;
  ep.act = relu ? Act::relu : Act::none;
  const float* xp = x.data();
  const float* bp = has_bias ? bias.data() : nullptr;
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    sparse_conv2d(m->view(), xp, n, s, bp, ep, yp);
  }
  return y;
}

}  // namespace

void bind_prune(py::module_& m) {
  m.def("mask_apply", &mask_apply_py, py::arg("data"), py::arg("mask"),
        "data *= mask in place (data: float32 C-contiguous writeable; mask: same shape).");
  m.def("magnitude_masks", &magnitude_masks_py, py::arg("weights"), py::arg("masks"),
        py::arg("n_zero"),
        "New 0/1 masks over all weights together: entries already masked stay pruned and the "
        "smallest |w| are added until n_zero are pruned (ties: earlier weight, lower index).");
  m.def("unit_norms", &unit_norms_py, py::arg("weight"), py::arg("p"),
        "L1 (p=1) or L2 (p=2) norm of each weight[i] (the incoming weights of output unit i), "
        "float64.");
  m.def("sparse_conv2d", &sparse_conv2d_py, py::arg("weight"), py::arg("x"),
        py::arg("bias") = py::none(), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("relu") = false,
        "conv2d(x, W) + bias (ReLU fused if relu) for x (N, C, H, W) and a SparseMatrix W of "
        "shape (out_channels, C*kh*kw) (a Conv2d weight reshaped; groups 1) -> (N, out, OH, OW).");
}

}  // namespace fastnn
