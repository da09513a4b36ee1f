// fastnn._C.matmul: check, release the GIL, call sgemm.
#include "bind_enum.h"
#include "common.h"
#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

py::array_t<float> matmul(const py::handle& a_obj, const py::handle& b_obj, bool trans_a,
                          bool trans_b, const py::handle& bias_obj,
                          const std::optional<Unary>& act, float act_param,
                          float alpha, const py::handle& out_obj, float beta, bool bf16) {
  if (beta != 0.0f && beta != 1.0f)
    throw py::value_error("beta: expected 0 or 1, got " + std::to_string(beta));
  if (beta != 0.0f && out_obj.is_none())
    throw py::value_error("beta: 1 adds the product to out, so out must be given");
  py::array_t<float> a = as_f32(a_obj, "a");
  py::array_t<float> b = as_f32(b_obj, "b");
  check_ndim(a, "a", 2);
  check_ndim(b, "b", 2);
  MatView av = mat_view(a), bv = mat_view(b);
  if (trans_a) { std::swap(av.rows, av.cols); std::swap(av.rs, av.cs); }
  if (trans_b) { std::swap(bv.rows, bv.cols); std::swap(bv.rs, bv.cs); }
  if (av.cols != bv.rows)
    throw py::value_error("b: expected " + std::string(trans_b ? "b.T" : "b") + " to have " +
                          std::to_string(av.cols) + " rows to match " +
                          (trans_a ? "a.T" : "a") + " of shape " + shape_str({av.rows, av.cols}) +
                          ", got b of shape " + shape_str(b));
  const int64_t m = av.rows, n = bv.cols;
  py::array_t<float> bias;  // (a default array_t is an empty array, not null: track presence)
  const bool has_bias = !bias_obj.is_none();
  if (has_bias) {
    bias = c_f32(bias_obj, "bias");
    check_shape(bias, "bias", {n});
  }
  py::array_t<float> out;
  if (out_obj.is_none()) {
    out = new_array<float>({m, n}, "out");
  } else {
    out = check_out(out_obj, "out", {m, n});
    if (overlaps(out, a) || overlaps(out, b) || (has_bias && overlaps(out, bias)))
      throw py::value_error("out: must not share memory with a, b or bias");
  }
  const Epilogue ep = gemm_epilogue(act, act_param, "act");
  GemmArgs g;
  g.a = av;
  g.b = bv;
  g.c = out.mutable_data();
  g.ldc = n;
  g.alpha = alpha;
  g.beta = beta;
  g.bias = has_bias ? bias.data() : nullptr;
  g.ep = ep;
  g.bf16 = bf16;
  {
    py::gil_scoped_release nogil;
    sgemm(g);
  }
  return out;
}

py::array_t<float> matmul_reference(const py::handle& a_obj, const py::handle& b_obj, bool bf16) {
  py::array_t<float> a = c_f32(a_obj, "a"), b = c_f32(b_obj, "b");
  check_ndim(a, "a", 2);
  check_ndim(b, "b", 2);
  check_shape(b, "b", {a.shape(1), -1});
  py::array_t<float> out({a.shape(0), b.shape(1)});
  GemmArgs g;
  g.a = mat_view(a);
  g.b = mat_view(b);
  g.c = out.mutable_data();
  g.ldc = b.shape(1);
  g.bf16 = bf16;
  sgemm_reference(g);
  return out;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("bias") = py::none(), py::arg("act") = py::none(),
        py::arg("act_param") = 0.0f, py::arg("alpha") = 1.0f, py::arg("out") = py::none(),
        py::arg("beta") = 0.0f, py::arg("bf16") = false,
        "C = act(alpha * op(a) @ op(b) + beta * out + bias); see fastnn.ops.matmul. bf16: a and b "
        "rounded to bfloat16, float32 sums (the bf16 inference kernels).");
  m.def("gemm_config", [] {
    const KernelTable& t = kernels();
    py::dict d;
    d["isa"] = isa_name(t.isa);
    d["tile"] = py::make_tuple(t.f32_mr, t.f32_nr);
    d["narrow_tile"] = t.f32_gemm_narrow.ukr ? py::object(py::make_tuple(t.f32_gemm_narrow.mr,
                                                                          t.f32_gemm_narrow.nr))
                                             : py::object(py::none());
    d["kc"] = t.f32_kc;
    d["mc"] = t.f32_mc;
    d["nc"] = t.f32_nc;
    d["bf16_tile"] = py::make_tuple(t.bf16_gemm.mr, t.bf16_gemm.nr);
    d["bf16_kernel"] = t.bf16_gemm_name;
    d["bf16_native"] = t.isa == Isa::avx512 && bf16_native_usable();
    d["bf16_amx_usable"] = bf16_amx_usable();
    const S8AmxMode mode = bf16_amx_mode();
    d["bf16_amx_mode"] = mode == S8AmxMode::off ? "off" : mode == S8AmxMode::on ? "on" : "auto";
    d["bf16_amx"] = bf16_use_amx();
    return d;
  }, "The active f32 GEMM tiles and cache-block bounds (tests size their edge cases from it).");
  m.def("bf16_set_amx", [](const std::string& mode) {
    const S8AmxMode before = bf16_amx_mode();
    if (mode == "off") set_bf16_amx_mode(S8AmxMode::off);
    else if (mode == "auto") set_bf16_amx_mode(S8AmxMode::automatic);
    else if (mode == "on") set_bf16_amx_mode(S8AmxMode::on);
    else throw py::value_error("mode: expected 'off', 'auto' or 'on', got '" + mode + "'");
    return std::string(before == S8AmxMode::off ? "off" : before == S8AmxMode::on ? "on" : "auto");
  }, py::arg("mode"),
        "AMX tiles for the bf16 products (Module.to_bf16()): 'off' (the avx512_bf16 or emulated "
        "kernel), 'auto' (AMX wherever it is usable; the default unless FASTNN_NO_AMX=1) or 'on' "
        "(ValueError where AMX is not usable). Returns the previous mode.");
  m.def("matmul_reference", &matmul_reference, py::arg("a"), py::arg("b"), py::arg("bf16") = false,
        "Naive triple loop in double precision, rounded to float32 (tests only); bf16: the "
        "operands rounded to bfloat16 first.");
}

}  // namespace fastnn
