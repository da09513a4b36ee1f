// fastnn._C int8 GEMM: PackedWeightsS8 (weights packed once), pack_weights_s8, gemm_u8s8 and
// s8_gemm_info. Integer inputs must already have their exact dtype (uint8 activations, int8
// weights, int32 bias): nothing is cast into an integer type here, so a float array can never be
// silently truncated. Check, release the GIL, call ops.h.
#include <pybind11/stl.h>

#include <cstring>
#include <string>

#include "common.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

using PackedPtr = std::shared_ptr<S8PackedWeights>;

std::string dtype_str(const py::array& a) { return std::string(py::str(a.dtype())); }

// An ndarray of exactly the integer dtype T (no conversion); TypeError naming `name` otherwise.
template <class T>
py::array exact_int_array(const py::handle& obj, const char* name, const char* want) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy.ndarray of dtype " + want +
                         ", got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  const char kind = arr.dtype().kind();
  const bool is_signed = std::is_signed<T>::value;
  if (!(kind == (is_signed ? 'i' : 'u') && arr.itemsize() == static_cast<py::ssize_t>(sizeof(T))))
    throw py::type_error(std::string(name) + ": expected dtype " + want + ", got " + dtype_str(arr) +
                         " (convert explicitly; values are never cast to integers here)");
  return arr;
}

// A float32 vector of length n: a scalar is broadcast, an array must have shape (n,).
std::vector<float> f32_vector(const py::handle& obj, const char* name, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  if (py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj)) {
    if (py::isinstance<py::bool_>(obj)) throw py::type_error(std::string(name) + ": got a bool");
    std::fill(v.begin(), v.end(), obj.cast<float>());
    return v;
  }
  py::array_t<float> a = as_f32(obj, name, /*allow_int=*/true);  // ints -> float is safe
  check_shape(a, name, {n});
  auto r = a.unchecked<1>();
  for (int64_t j = 0; j < n; ++j) v[j] = r(j);
  return v;
}

S8Out parse_out(const std::string& s) {
  if (s == "float32") return S8Out::f32;
  if (s == "uint8") return S8Out::u8;
  if (s == "int32") return S8Out::s32;
  throw py::value_error("out_dtype: expected 'float32', 'uint8' or 'int32', got '" + s + "'");
}

PackedPtr pack(const py::handle& w_obj) {
  py::array w = exact_int_array<int8_t>(w_obj, "w", "int8");
  check_ndim(w, "w", 2);
  const int64_t n = w.shape(0), k = w.shape(1);
  const int8_t* data = static_cast<const int8_t*>(w.data());
  const int64_t rs = w.strides(0), cs = w.strides(1);
  auto p = std::make_shared<S8PackedWeights>();
  {
    py::gil_scoped_release nogil;
    *p = pack_weights_s8(data, n, k, rs, cs);
  }
  return p;
}

py::array gemm(const py::handle& a_obj, const PackedPtr& packed, int64_t za,
               const std::string& out_dtype, double scale_a, const py::handle& scale_b_obj,
               const py::handle& bias_obj, const py::handle& bias_i32_obj, double scale_out,
               int64_t z_out, bool relu, const py::handle& out_obj, int pack_a) {
  if (!packed) throw py::type_error("packed: expected PackedWeightsS8, got None");
  py::array a = exact_int_array<uint8_t>(a_obj, "a", "uint8");
  check_ndim(a, "a", 2);
  const int64_t m = a.shape(0), k = a.shape(1), n = packed->n;
  if (k != packed->k)
    throw py::value_error("a: expected shape (m, " + std::to_string(packed->k) +
                          ") to match the packed weights (n, k) = (" + std::to_string(n) + ", " +
                          std::to_string(packed->k) + "), got " + shape_str(a));
  if (za < 0 || za > 255)
    throw py::value_error("za: activation zero point must be in [0, 255], got " + std::to_string(za));
  if (z_out < 0 || z_out > 255)
    throw py::value_error("z_out: output zero point must be in [0, 255], got " + std::to_string(z_out));
  if (pack_a < -1 || pack_a > 1) throw py::value_error("pack_a: expected -1, 0 or 1");
  const S8Out kind = parse_out(out_dtype);

  S8GemmArgs g;
  g.a = static_cast<const uint8_t*>(a.data());
  g.m = m;
  g.k = k;
  g.a_rs = a.strides(0);
  g.a_cs = a.strides(1);
  g.za = static_cast<int>(za);
  g.b = packed.get();
  g.out = kind;
  g.pack_a = pack_a;

  py::array bias_i32;
  if (!bias_i32_obj.is_none()) {
    bias_i32 = exact_int_array<int32_t>(bias_i32_obj, "bias_i32", "int32");
    check_shape(bias_i32, "bias_i32", {n});
    bias_i32 = c_array<int32_t>(bias_i32, "bias_i32");
    g.bias_i32 = static_cast<const int32_t*>(bias_i32.data());
  }
  std::vector<float> scale_b, bias;
  if (kind == S8Out::s32) {
    if (!scale_b_obj.is_none() || !bias_obj.is_none())
      throw py::value_error("scale_b/bias: not used for int32 output (it is the raw accumulator); "
                            "pass them with out_dtype='float32' or 'uint8'");
    if (relu) throw py::value_error("relu: not available for int32 output");
  } else {
    if (scale_b_obj.is_none())
      throw py::value_error("scale_b: required for out_dtype='" + out_dtype + "'");
    scale_b = f32_vector(scale_b_obj, "scale_b", n);
    g.scale_b = scale_b.data();
    if (!bias_obj.is_none()) {
      bias = f32_vector(bias_obj, "bias", n);
      g.bias_f32 = bias.data();
    }
    g.scale_a = static_cast<float>(scale_a);
    g.scale_out = static_cast<float>(scale_out);
    g.z_out = static_cast<int>(z_out);
    g.relu = relu;
  }

  const char* want = kind == S8Out::f32 ? "float32" : (kind == S8Out::u8 ? "uint8" : "int32");
  const py::dtype dt = kind == S8Out::f32 ? py::dtype::of<float>()
                       : (kind == S8Out::u8 ? py::dtype::of<uint8_t>() : py::dtype::of<int32_t>());
  py::array out;
  if (out_obj.is_none()) {
    out = py::array(dt, std::vector<py::ssize_t>{m, n});
  } else {
    if (!py::isinstance<py::array>(out_obj))
      throw py::type_error(std::string("out: expected a numpy.ndarray of dtype ") + want);
    out = py::reinterpret_borrow<py::array>(out_obj);
    if (!out.dtype().is(dt))
      throw py::type_error(std::string("out: expected dtype ") + want + " for out_dtype='" +
                           out_dtype + "', got " + dtype_str(out));
    check_shape(out, "out", {m, n});
    if (!(out.flags() & py::array::c_style))
      throw py::value_error("out: expected a C-contiguous array");
    check_aligned(out, "out");
    if (!out.writeable()) throw py::value_error("out: array is read-only");
    if (overlaps(out, a)) throw py::value_error("out: must not share memory with a");
  }
  g.c = out.mutable_data();
  g.ldc = n;
  {
    py::gil_scoped_release nogil;
    gemm_u8s8(g);
  }
  return out;
}

const char* amx_mode_name(S8AmxMode m) {
  return m == S8AmxMode::off ? "off" : m == S8AmxMode::on ? "on" : "auto";
}

// Sets the AMX mode ("off", "auto", "on") and returns the previous one.
std::string s8_gemm_set_amx(const std::string& mode) {
  const std::string before = amx_mode_name(s8_amx_mode());
  if (mode == "off") set_s8_amx_mode(S8AmxMode::off);
  else if (mode == "auto") set_s8_amx_mode(S8AmxMode::automatic);
  else if (mode == "on") set_s8_amx_mode(S8AmxMode::on);
  else throw py::value_error("mode: expected 'off', 'auto' or 'on', got '" + mode + "'");
  return before;
}

py::dict s8_gemm_info() {
  const KernelTable& t = kernels();
  py::dict d;
  d["kernel"] = t.s8_gemm_name;
  d["isa"] = isa_name(t.isa);
  d["vnni"] = t.isa == Isa::avx512 && s8_vnni_usable();
  d["mr"] = t.s8_mr;
  d["nr"] = kS8NR;
  // AMX: usable on this machine and build; mode of the driver; whether a call now may take it.
  d["amx_usable"] = s8_amx_usable();
  d["amx_mode"] = amx_mode_name(s8_amx_mode());
  d["amx"] = t.isa == Isa::avx512 && s8_amx_usable() && s8_amx_mode() != S8AmxMode::off;
  d["kgroup"] = kS8KG;
  return d;
}

}  // namespace

void bind_quant_gemm(py::module_& m) {
  py::class_<S8PackedWeights, PackedPtr>(
      m, "PackedWeightsS8",
      "int8 weights (n, k) packed once into the int8 GEMM's panel layout, with column sums.")
      .def_property_readonly("n", [](const S8PackedWeights& p) { return p.n; })
      .def_property_readonly("k", [](const S8PackedWeights& p) { return p.k; })
      .def_property_readonly("shape", [](const S8PackedWeights& p) { return py::make_tuple(p.n, p.k); })
      .def_property_readonly("nr", [](const S8PackedWeights& p) { return p.nr; })
      .def_property_readonly("kgroup", [](const S8PackedWeights& p) { return p.kgroup; })
      .def_property_readonly("isa", [](const S8PackedWeights& p) { return std::string(isa_name(p.isa)); })
      .def_property_readonly("nbytes", [](const S8PackedWeights& p) { return p.bytes; })
      .def_property_readonly("colsum", [](const S8PackedWeights& p) {
        py::array_t<int32_t> c(static_cast<py::ssize_t>(p.n));
        if (p.n) std::memcpy(c.mutable_data(), p.colsum.data(), p.colsum.size() * sizeof(int32_t));
        return c;
      })
      .def("unpack", [](const S8PackedWeights& p) {
        py::array_t<int8_t> w({p.n, p.k});
        unpack_weights_s8(p, w.mutable_data());
        return w;
      }, "The (n, k) int8 weights back, as packed.")
      .def("__repr__", [](const S8PackedWeights& p) {
        return "PackedWeightsS8(n=" + std::to_string(p.n) + ", k=" + std::to_string(p.k) +
               ", layout=k" + std::to_string(p.kgroup) + "n" + std::to_string(p.nr) +
               ", packed_on='" + isa_name(p.isa) + "')";
      });
  m.def("pack_weights_s8", &pack, py::arg("w"),
        "Pack int8 weights w of shape (n, k) (Linear layout: out x in) for gemm_u8s8.");
  m.def("gemm_u8s8", &gemm, py::arg("a"), py::arg("packed"), py::arg("za") = 0,
        py::arg("out_dtype") = "float32", py::arg("scale_a") = 1.0, py::arg("scale_b") = py::none(),
        py::arg("bias") = py::none(), py::arg("bias_i32") = py::none(), py::arg("scale_out") = 1.0,
        py::arg("z_out") = 0, py::arg("relu") = false, py::arg("out") = py::none(),
        py::arg("pack_a") = -1,
        "u8 x s8 GEMM a @ w.T with exact int32 accumulation and a fused requantisation epilogue; "
        "see fastnn.quant.gemm_u8s8.");
  m.def("s8_gemm_info", &s8_gemm_info, "The active int8 GEMM kernel (name, VNNI, AMX, tile).");
  m.def("s8_gemm_set_amx", &s8_gemm_set_amx, py::arg("mode"),
        "AMX tiles for the int8 GEMM: 'off', 'auto' (from 4 rows and 32 columns; the default unless "
        "FASTNN_NO_AMX=1) or 'on' (every call; ValueError where AMX is not usable). Returns the "
        "previous mode.");
}

}  // namespace fastnn
