// fastnn._C quantized tensors and layers: qparams, quantize / dequantize, calibration statistics,
// int8 weights, u8 pooling, im2col and the quantized convolution. uint8 inputs must already be
// uint8 (never cast into an integer type here); float inputs are float32 (other float dtypes are
// converted). Check, release the GIL, call ops.h.
#include <pybind11/stl.h>

#include <string>

#include "common.h"
#include "fastnn/ops.h"
#include "quant_common.h"

namespace fastnn {

namespace {

using F32C = py::array_t<float>;  // as common.h's c_f32 returns it (C-contiguous)
using PackedPtr = std::shared_ptr<S8PackedWeights>;

// The output array: a new one, or `out` when given -- then of exactly this dtype and shape,
// C-contiguous, writeable and not overlapping `in` (a reusable workspace: no page faults per call).
template <class T>
py::array_t<T, py::array::c_style> output(const py::handle& out,
                                          const std::vector<py::ssize_t>& shape,
                                          const py::array& in) {
  using A = py::array_t<T, py::array::c_style>;
  if (out.is_none())
    return py::reinterpret_borrow<A>(
        new_array<T>(std::vector<int64_t>(shape.begin(), shape.end()), "output"));
  if (!py::isinstance<py::array>(out))
    throw py::type_error("out: expected a numpy.ndarray");
  py::array o = py::reinterpret_borrow<py::array>(out);
  if (!o.dtype().is(py::dtype::of<T>()))
    throw py::type_error("out: expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(o.dtype())));
  check_shape(o, "out", std::vector<int64_t>(shape.begin(), shape.end()));
  if (!(o.flags() & py::array::c_style) || !o.writeable())
    throw py::value_error("out: expected a writeable C-contiguous array");
  check_aligned(o, "out");
  if (overlaps(o, in)) throw py::value_error("out: must not share memory with the input");
  return py::reinterpret_borrow<A>(o);
}

std::vector<py::ssize_t> dims(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

int64_t pair_at(const std::vector<int64_t>& v, size_t i, const char* name) {
  if (v.size() != 2) throw py::value_error(std::string(name) + ": expected a pair");
  return v[i];
}

// Geometry of a convolution / pooling window over an NHWC batch x (n, h, w, c).
U8ConvGeom geom(const py::array& x, const std::vector<int64_t>& kernel,
                const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                const std::vector<int64_t>& dilation, int64_t kp, int64_t pad) {
  U8ConvGeom g;
  g.h = x.shape(1), g.w = x.shape(2), g.c = x.shape(3);
  g.kh = pair_at(kernel, 0, "kernel_size"), g.kw = pair_at(kernel, 1, "kernel_size");
  g.sh = pair_at(stride, 0, "stride"), g.sw = pair_at(stride, 1, "stride");
  g.ph = pair_at(padding, 0, "padding"), g.pw = pair_at(padding, 1, "padding");
  g.dh = pair_at(dilation, 0, "dilation"), g.dw = pair_at(dilation, 1, "dilation");
  // Range checks on every hyper-parameter (ValueError naming it), overflow-checked extents.
  g.set_out(g.h, g.w, "conv2d_u8");
  if (!mul_ok(g.kh * g.kw, g.c, &g.k))
    throw py::value_error("kernel_size: kh * kw * channels overflows int64");
  g.kp = kp < 0 ? g.k : kp;
  if (pad < 0 || pad > 255) throw py::value_error("pad_value: must be in [0, 255]");
  g.pad = static_cast<uint8_t>(pad);
  return g;
}

// quantize / dequantize: `in` into a new (or the given `out`) array of Out, in the same layout or,
// with `permute`, NCHW -> NHWC (to_nhwc) or NHWC -> NCHW; plain(in, out, size, p) and
// permuted(in, out, n, c, hw, p) are the ops.h calls (c, hw: of the input's layout).
template <class Out, class A, class Plain, class Permuted>
py::array convert(const A& in, const char* name, QParamsU8 p, bool permute, bool to_nhwc,
                  const py::handle& out, Plain plain, Permuted permuted) {
  std::vector<py::ssize_t> shape = dims(in);
  int64_t c = 0, hw = 0;
  if (permute) {
    check_ndim(in, name, 4);
    const py::ssize_t* s = in.shape();
    shape = to_nhwc ? std::vector<py::ssize_t>{s[0], s[2], s[3], s[1]}
                    : std::vector<py::ssize_t>{s[0], s[3], s[1], s[2]};
    c = to_nhwc ? s[1] : s[3];
    hw = to_nhwc ? s[2] * s[3] : s[1] * s[2];
  }
  auto o = output<Out>(out, shape, in);
  const auto* src = in.data();
  Out* dst = o.mutable_data();
  const int64_t n = in.size();
  {
    py::gil_scoped_release nogil;
    if (permute)
      permuted(src, dst, shape[0], c, hw, p);
    else
      plain(src, dst, n, p);
  }
  return o;
}

py::array quantize(const py::handle& x_obj, double scale, int64_t zp, bool nhwc,
                   const py::handle& out) {
  return convert<uint8_t>(c_f32(x_obj, "x"), "x", qp(scale, zp), nhwc, true, out, quantize_u8,
                          quantize_u8_to_nhwc);
}

py::array dequantize(const py::handle& q_obj, double scale, int64_t zp, bool nchw,
                     const py::handle& out) {
  return convert<float>(u8c(q_obj, "q"), "q", qp(scale, zp), nchw, false, out, dequantize_u8,
                        dequantize_u8_from_nhwc);
}

py::tuple minmax(const py::handle& x_obj, const std::string& name) {
  F32C x = c_f32(x_obj, name.c_str());
  if (x.size() == 0)
    throw py::value_error(name + ": expected a non-empty array, got shape " + shape_str(x));
  float lo = 0, hi = 0;
  {
    py::gil_scoped_release nogil;
    minmax_f32(x.data(), x.size(), &lo, &hi, name.c_str());
  }
  return py::make_tuple(lo, hi);
}

void histogram(const py::handle& x_obj, double lo, double hi, const py::handle& hist_obj,
               bool absval) {
  F32C x = c_f32(x_obj, "x");
  // Updated in place: exactly int64 in native byte order, aligned, C-contiguous, writeable.
  py::array_t<int64_t> h = exact_int_inplace<int64_t>(hist_obj, "hist", "int64");
  int64_t* hp = h.mutable_data();
  const int64_t bins = h.shape(0);
  if (bins < 1) throw py::value_error("hist: expected at least 1 bin, got shape " + shape_str(h));
  py::gil_scoped_release nogil;
  histogram_f32(x.data(), x.size(), lo, hi, bins, absval, hp);
}

int64_t entropy_bins(const py::handle& hist_obj, int64_t nq) {
  py::array a = as_array(hist_obj, "hist");
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    throw py::type_error("hist: expected an integer array of counts, got dtype " +
                         std::string(py::str(a.dtype())));
  check_ndim(a, "hist", 1);
  if (a.dtype().kind() == 'u' && a.itemsize() == 8) {  // past 2**63 - 1 a cast would wrap
    auto u = c_array<uint64_t>(a, "hist");
    for (py::ssize_t b = 0; b < u.size(); ++b)
      if (u.data()[b] > static_cast<uint64_t>(INT64_MAX))
        throw py::value_error("hist: count " + std::to_string(u.data()[b]) + " at bin " +
                              std::to_string(b) + " exceeds 2**63 - 1");
  }
  auto h = c_array<int64_t>(a, "hist");
  py::gil_scoped_release nogil;
  return entropy_calibration_bins(h.data(), h.shape(0), nq);
}

py::tuple quantize_dynamic(const py::handle& x_obj) {
  F32C x = c_f32(x_obj, "x");
  U8Array q(dims(x));
  QParamsU8 p;
  {
    py::gil_scoped_release nogil;
    p = quantize_u8_dynamic(x.data(), q.mutable_data(), x.size());
  }
  return py::make_tuple(q, p.scale, p.zero_point);
}

py::tuple weights_s8(const py::handle& w_obj, bool per_channel) {
  F32C w = c_f32(w_obj, "weight");
  check_ndim(w, "weight", 2);
  const int64_t n = w.shape(0), k = w.shape(1);
  py::array_t<int8_t> q({n, k});
  F32C scales(std::vector<py::ssize_t>{n});
  {
    py::gil_scoped_release nogil;
    quantize_weights_s8(w.data(), n, k, per_channel, q.mutable_data(), scales.mutable_data());
  }
  return py::make_tuple(q, scales);
}

py::array maxpool(const py::handle& x_obj, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                  const py::handle& out) {
  U8Array x = u8c(x_obj, "x");
  check_ndim(x, "x", 4);
  const U8ConvGeom g = geom(x, kernel, stride, padding, {1, 1}, -1, 0);  // checks: the frame's
  U8Array y = output<uint8_t>(out, {x.shape(0), g.oh, g.ow, g.c}, x);
  const uint8_t* xd = x.data();
  uint8_t* yd = y.mutable_data();
  const U8Pool p{g.kh, g.kw, g.sh, g.sw, g.ph, g.pw};
  {
    py::gil_scoped_release nogil;
    maxpool2d_u8_nhwc(xd, x.shape(0), g.h, g.w, g.c, p, yd);
  }
  return y;
}

py::array gap(const py::handle& x_obj, const py::handle& out) {
  U8Array x = u8c(x_obj, "x");
  check_ndim(x, "x", 4);
  if (x.shape(1) * x.shape(2) == 0 || x.shape(3) == 0)
    throw py::value_error("x: expected a non-empty (N, H, W, C) array, got shape " + shape_str(x));
  U8Array y = output<uint8_t>(out, {x.shape(0), x.shape(3)}, x);
  const uint8_t* xd = x.data();
  uint8_t* yd = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    global_avgpool_u8_nhwc(xd, x.shape(0), x.shape(1) * x.shape(2), x.shape(3), yd);
  }
  return y;
}

py::array im2col(const py::handle& x_obj, const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                 const std::vector<int64_t>& dilation, int64_t pad_value, int64_t kp) {
  U8Array x = u8c(x_obj, "x");
  check_ndim(x, "x", 4);
  const U8ConvGeom g = geom(x, kernel, stride, padding, dilation, kp, pad_value);
  conv2d_u8_check_geom(g);  // before allocating (n * oh * ow, kp)
  int64_t rows = 0;
  if (!mul_ok(x.shape(0), g.oh, &rows) || !mul_ok(rows, g.ow, &rows))
    throw py::value_error("x: n * oh * ow im2col rows overflow int64");
  U8Array out = py::reinterpret_borrow<U8Array>(new_array<uint8_t>({rows, g.kp}, "output"));
  const uint8_t* xd = x.data();
  uint8_t* od = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    im2col_u8_nhwc(g, xd, x.shape(0), od);
  }
  return out;
}

py::array conv2d(const py::handle& x_obj, const PackedPtr& packed,
                 const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                 const std::vector<int64_t>& dilation, int64_t kp, int64_t za, double scale_a,
                 const py::handle& scale_b_obj, const py::handle& bias_obj,
                 const std::string& out_dtype, double scale_out, int64_t z_out, bool relu,
                 const py::handle& out_obj, const py::handle& pool_obj) {
  if (!packed) throw py::type_error("packed: expected PackedWeightsS8, got None");
  U8Array x = u8c(x_obj, "x");
  check_ndim(x, "x", 4);
  if (za < 0 || za > 255) throw py::value_error("za: must be in [0, 255]");
  if (z_out < 0 || z_out > 255) throw py::value_error("z_out: must be in [0, 255]");
  const U8ConvGeom g = geom(x, kernel, stride, padding, dilation, kp, za);
  conv2d_u8_check_geom(g);  // before allocating the output
  const int64_t cols = packed->n;
  F32C sb = vec_f32(scale_b_obj, "scale_b", cols);
  F32C bias;
  S8GemmArgs ep;
  ep.za = static_cast<int>(za);
  ep.b = packed.get();
  ep.scale_a = static_cast<float>(scale_a);
  ep.scale_b = sb.data();
  if (!bias_obj.is_none()) {
    bias = vec_f32(bias_obj, "bias", cols);
    ep.bias_f32 = bias.data();
  }
  py::array out;
  std::vector<py::ssize_t> shape{x.shape(0), g.oh, g.ow, cols};
  U8Pool pool;
  const bool pooled = !pool_obj.is_none();
  if (pooled) {  // (kernel_size, stride, padding) pairs of a fused max pooling
    std::vector<std::vector<int64_t>> spec;
    try {
      spec = pool_obj.cast<std::vector<std::vector<int64_t>>>();
    } catch (const py::cast_error&) {  // else a RuntimeError naming no argument
      throw py::type_error("pool: expected ((kh, kw), (sh, sw), (ph, pw)) as sequences of ints, "
                           "got " + std::string(py::str(py::repr(pool_obj))).substr(0, 80));
    }
    if (spec.size() != 3) throw py::value_error("pool: expected (kernel_size, stride, padding)");
    pool = U8Pool{pair_at(spec[0], 0, "pool kernel_size"), pair_at(spec[0], 1, "pool kernel_size"),
                  pair_at(spec[1], 0, "pool stride"), pair_at(spec[1], 1, "pool stride"),
                  pair_at(spec[2], 0, "pool padding"), pair_at(spec[2], 1, "pool padding")};
    // Range checks (ValueError naming the parameter), overflow-checked extents.
    const auto [ph, pw] = pool.out_size(g.oh, g.ow, "pool");
    if (2 * pool.ph > pool.kh || 2 * pool.pw > pool.kw || ph < 1 || pw < 1)
      throw py::value_error("pool: bad kernel_size / stride / padding for a " +
                            std::to_string(g.oh) + " x " + std::to_string(g.ow) + " output");
    shape[1] = ph;
    shape[2] = pw;
  }
  if (out_dtype == "uint8") {
    ep.out = S8Out::u8;
    out = output<uint8_t>(out_obj, shape, x);
  } else if (out_dtype == "float32") {
    ep.out = S8Out::f32;
    out = output<float>(out_obj, shape, x);
  } else {
    throw py::value_error("out_dtype: expected 'uint8' or 'float32', got '" + out_dtype + "'");
  }
  ep.scale_out = static_cast<float>(scale_out);
  ep.z_out = static_cast<int>(z_out);
  ep.relu = relu;
  const uint8_t* xd = x.data();
  void* od = out.mutable_data();
  const int64_t n = x.shape(0);
  {
    py::gil_scoped_release nogil;
    conv2d_u8_nhwc(xd, n, g, ep, od, pooled ? &pool : nullptr);
  }
  return out;
}

}  // namespace

void bind_quant(py::module_& m) {
  m.def("choose_qparams_u8", [](double lo, double hi) {
    const QParamsU8 p = choose_qparams_u8(lo, hi);
    return py::make_tuple(p.scale, p.zero_point);
  }, py::arg("lo"), py::arg("hi"),
        "(scale, zero_point) of uint8 quantization over [lo, hi] (0 included).");
  m.def("quantize_u8", &quantize, py::arg("x"), py::arg("scale"), py::arg("zero_point"),
        py::arg("nhwc") = false, py::arg("out") = py::none(),
        "sat_u8(nearbyint(x / scale) + zero_point); nhwc: NCHW in, NHWC out.");
  m.def("dequantize_u8", &dequantize, py::arg("q"), py::arg("scale"), py::arg("zero_point"),
        py::arg("nchw") = false, py::arg("out") = py::none(),
        "(q - zero_point) * scale; nchw: NHWC in, NCHW out.");
  m.def("minmax_f32", &minmax, py::arg("x"), py::arg("name") = "x",
        "(min, max); ValueError on NaN.");
  m.def("histogram_f32", &histogram, py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("hist"),
        py::arg("absval") = false,
        "hist += counts of x (or |x|) in len(hist) equal bins over [lo, hi].");
  m.def("entropy_calibration_bins", &entropy_bins, py::arg("hist"), py::arg("num_quantized_bins"),
        "KL-divergence calibration: the number of leading histogram bins to keep.");
  m.def("quantize_dynamic_u8", &quantize_dynamic, py::arg("x"),
        "(q, scale, zero_point) from x's min/max.");
  m.def("quantize_weights_s8", &weights_s8, py::arg("weight"), py::arg("per_channel") = true,
        "Symmetric int8 weights (q, scales) per row or per tensor.");
  m.def("maxpool2d_u8", &maxpool, py::arg("x"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("out") = py::none(), "Max pooling of an NHWC uint8 batch.");
  m.def("global_avgpool_u8", &gap, py::arg("x"), py::arg("out") = py::none(),
        "Rounded mean over H, W of an NHWC uint8 batch -> (N, C).");
  m.def("im2col_u8", &im2col, py::arg("x"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("pad_value"), py::arg("kp") = -1,
        "im2col rows (N*OH*OW, kp) of an NHWC uint8 batch.");
  m.def("conv2d_u8", &conv2d, py::arg("x"), py::arg("packed"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("kp"), py::arg("za"),
        py::arg("scale_a"), py::arg("scale_b"), py::arg("bias"), py::arg("out_dtype"),
        py::arg("scale_out") = 1.0, py::arg("z_out") = 0, py::arg("relu") = false,
        py::arg("out") = py::none(), py::arg("pool") = py::none(),
        "Quantized convolution of an NHWC uint8 batch -> NHWC uint8 / float32; pool: a fused "
        "max pooling ((kh, kw), (sh, sw), (ph, pw)).");
}

}  // namespace fastnn
