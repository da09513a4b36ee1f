// Binary layers (XNOR-Net): binary_pack (float -> packed sign words), binary_gemm (packed x packed,
// XNOR + popcount), binary_gemm_f32 (float x packed signs), binary_kernel (the path in use).
// Checks here once; the GIL is released around the kernels.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "common.h"
#include "fastnn/binary.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using U64 = py::array_t<uint64_t, py::array::c_style>;

int64_t words(int64_t K) { return K / 64 + (K % 64 != 0); }  // no overflow near INT64_MAX

U64 packed_arg(const py::handle& obj, const std::string& name, int64_t K) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a numpy.ndarray of uint64, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 8)
    throw py::type_error(name + ": expected dtype uint64, got " + std::string(py::str(a.dtype())));
  check_ndim(a, name, 2);
  if (a.shape(1) != words(K))
    throw py::value_error(name + ": expected shape (rows, " + std::to_string(words(K)) +
                          ") for K=" + std::to_string(K) + ", got " + shape_str(a));
  U64 out = py::reinterpret_borrow<U64>(c_array(a, py::dtype::of<uint64_t>(), name));
  // The kernels rely on the bits past K in each row's last word being 0 (binary_pack writes
  // them so): anything else would count signs that do not exist, or read past the row.
  const int64_t W = words(K), rows = out.shape(0);
  if (K % 64 != 0) {
    const uint64_t pad = ~((uint64_t{1} << (K % 64)) - 1);
    const uint64_t* p = out.data();
    for (int64_t r = 0; r < rows; ++r)
      if (p[r * W + W - 1] & pad)
        throw py::value_error(name + ": row " + std::to_string(r) + " has bits set past K=" +
                              std::to_string(K) + " (expected binary_pack's zero padding)");
  }
  return out;
}

U64 binary_pack_py(const py::handle& x_obj) {
  py::array_t<float> x = c_f32(x_obj, "x");
  check_ndim(x, "x", 2);
  const int64_t rows = x.shape(0), K = x.shape(1);
  if (K < 1) throw py::value_error("x: expected at least one column, got shape " + shape_str(x));
  U64 out = new_array<uint64_t>({rows, words(K)}, "out");
  const float* xp = x.data();
  uint64_t* op = out.mutable_data();
  py::gil_scoped_release nogil;
  binary::pack_signs(xp, rows, K, op);
  return out;
}

py::array_t<float> binary_gemm_py(const py::handle& a_obj, const py::handle& b_obj, int64_t K,
                                  const py::handle& alpha_obj, const py::handle& bias_obj) {
  if (K < 1) throw py::value_error("K: expected >= 1, got " + std::to_string(K));
  U64 a = packed_arg(a_obj, "a", K), b = packed_arg(b_obj, "b", K);
  const int64_t M = a.shape(0), N = b.shape(0);
  py::array_t<float> alpha = vec_f32(alpha_obj, "alpha", N), bias;
  if (!bias_obj.is_none()) bias = vec_f32(bias_obj, "bias", N);
  py::array_t<float> out = new_array<float>({M, N}, "out");
  const uint64_t *ap = a.data(), *bp = b.data();
  const float *al = alpha.data(), *bi = bias_obj.is_none() ? nullptr : bias.data();
  float* op = out.mutable_data();
  py::gil_scoped_release nogil;
  binary::xnor_gemm(ap, bp, M, N, K, al, bi, op);
  return out;
}

py::array_t<float> binary_gemm_f32_py(const py::handle& x_obj, const py::handle& b_obj,
                                      const py::handle& alpha_obj, const py::handle& bias_obj) {
  py::array_t<float> x = c_f32(x_obj, "x");
  check_ndim(x, "x", 2);
  const int64_t M = x.shape(0), K = x.shape(1);
  if (K < 1) throw py::value_error("x: expected at least one column, got shape " + shape_str(x));
  U64 b = packed_arg(b_obj, "b", K);
  const int64_t N = b.shape(0);
  py::array_t<float> alpha = vec_f32(alpha_obj, "alpha", N), bias;
  if (!bias_obj.is_none()) bias = vec_f32(bias_obj, "bias", N);
  py::array_t<float> out = new_array<float>({M, N}, "out");
  const float *xp = x.data(), *al = alpha.data(), *bi = bias_obj.is_none() ? nullptr : bias.data();
  const uint64_t* bp = b.data();
  float* op = out.mutable_data();
  py::gil_scoped_release nogil;
  binary::sign_gemm_f32(xp, bp, M, N, K, al, bi, op);
  return out;
}

py::array_t<float> ternary_gemm_f32_py(const py::handle& x_obj, const py::handle& pos_obj,
                                       const py::handle& neg_obj, const py::handle& alpha_obj,
                                       const py::handle& bias_obj) {
  py::array_t<float> x = c_f32(x_obj, "x");
  check_ndim(x, "x", 2);
  const int64_t M = x.shape(0), K = x.shape(1);
  if (K < 1) throw py::value_error("x: expected at least one column, got shape " + shape_str(x));
  U64 pos = packed_arg(pos_obj, "pos", K), neg = packed_arg(neg_obj, "neg", K);
  const int64_t N = pos.shape(0);
  if (neg.shape(0) != N)
    throw py::value_error("neg: expected shape (" + std::to_string(N) + ", " +
                          std::to_string(words(K)) + ") like pos, got " + shape_str(neg));
  const int64_t W = words(K);
  const uint64_t *pp = pos.data(), *np_ = neg.data();
  for (int64_t i = 0; i < N * W; ++i)
    if (pp[i] & np_[i])
      throw py::value_error("pos, neg: the planes overlap in row " + std::to_string(i / W) +
                            " (a weight cannot be both +1 and -1)");
  py::array_t<float> alpha = vec_f32(alpha_obj, "alpha", N), bias;
  if (!bias_obj.is_none()) bias = vec_f32(bias_obj, "bias", N);
  py::array_t<float> out = new_array<float>({M, N}, "out");
  const float *xp = x.data(), *al = alpha.data(), *bi = bias_obj.is_none() ? nullptr : bias.data();
  float* op = out.mutable_data();
  py::gil_scoped_release nogil;
  binary::ternary_gemm_f32(xp, pp, np_, M, N, K, al, bi, op);
  return out;
}

int64_t pair_of(const std::vector<int64_t>& v, size_t i, const char* name) {
  if (v.size() != 2)
    throw py::value_error(std::string(name) + ": expected a pair, got " + std::to_string(v.size()) +
                          " values");
  return v[i];
}

py::tuple binary_im2col_py(const py::handle& x_obj, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, bool pad_bit) {
  py::array_t<float> x = c_f32(x_obj, "x");
  check_ndim(x, "x", 4);
  binary::BitIm2col g;
  g.n = x.shape(0), g.c = x.shape(1), g.h = x.shape(2), g.w = x.shape(3);
  g.kh = pair_of(kernel, 0, "kernel_size"), g.kw = pair_of(kernel, 1, "kernel_size");
  g.sh = pair_of(stride, 0, "stride"), g.sw = pair_of(stride, 1, "stride");
  g.ph = pair_of(padding, 0, "padding"), g.pw = pair_of(padding, 1, "padding");
  g.dh = pair_of(dilation, 0, "dilation"), g.dw = pair_of(dilation, 1, "dilation");
  if (g.c < 1) throw py::value_error("x: expected at least one channel, got shape " + shape_str(x));
  g.set_out(g.h, g.w, "binary_im2col");
  if (g.oh < 1 || g.ow < 1)
    throw py::value_error("x: kernel larger than the padded input of shape " + shape_str(x));
  int64_t K = 0, rows = 0;
  if (!mul_ok(g.kh * g.kw, g.c, &K) || !mul_ok(g.n, g.oh, &rows) || !mul_ok(rows, g.ow, &rows))
    throw py::value_error("x: im2col size overflows int64 for shape " + shape_str(x));
  U64 out = new_array<uint64_t>({rows, words(K)}, "out");
  const float* xp = x.data();
  uint64_t* op = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    binary::im2col_sign_bits(xp, g, pad_bit, op);
  }
  return py::make_tuple(out, g.oh, g.ow);
}

std::string binary_kernel_py() {
  const char* name = nullptr;
  binary::xor_popcount_kernel(&name);
  return name;
}

}  // namespace

void bind_binary(py::module_& m) {
  m.def("binary_pack", &binary_pack_py, py::arg("x"));
  m.def("binary_gemm", &binary_gemm_py, py::arg("a"), py::arg("b"), py::arg("K"), py::arg("alpha"),
        py::arg("bias") = py::none());
  m.def("binary_gemm_f32", &binary_gemm_f32_py, py::arg("x"), py::arg("b"), py::arg("alpha"),
        py::arg("bias") = py::none());
  m.def("binary_im2col", &binary_im2col_py, py::arg("x"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("pad_bit"),
        "(packed, OH, OW): the packed sign bits (uint64, 1 = negative) of the im2col rows of a "
        "float NCHW batch, (N*OH*OW, ceil(kh*kw*C/64)), K in (i, j, c) order; padded taps get "
        "pad_bit.");
  m.def("ternary_gemm_f32", &ternary_gemm_f32_py, py::arg("x"), py::arg("pos"), py::arg("neg"),
        py::arg("alpha"), py::arg("bias"));
  m.def("binary_kernel", &binary_kernel_py);
  m.def("binary_plane_kernel", []() {
    const char* name = nullptr;
    binary::plane_sum_kernel(&name);
    return std::string(name);
  }, "The ISA path of the float x bit-plane kernels (binary_gemm_f32, ternary_gemm_f32).");
  m.def("binary_vpopcntdq", &binary::vpopcntdq_supported);
}

}  // namespace fastnn
