// PYBIND11_MODULE(_C): version, build and dispatch information, threads; each area binds itself.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common.h"
#include "fastnn/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifndef FASTNN_VERSION
#define FASTNN_VERSION "0.0.0"
#endif

namespace fastnn {
void bind_gemm(py::module_& m);
// [layers: elementwise, losses, dropout]
void bind_linear(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_loss(py::module_& m);

// [layers: conv, pool, batchnorm]
void bind_conv(py::module_& m);
void bind_pool_bn(py::module_& m);
void bind_conv_leaves(py::module_& m);

// [optim]
void bind_optim(py::module_& m);

// [int8 GEMM]
void bind_quant_gemm(py::module_& m);
void bind_quant(py::module_& m);
void bind_quant_join(py::module_& m);

// [sparse / prune]
void bind_sparse(py::module_& m);
void bind_prune(py::module_& m);
void bind_binary(py::module_& m);  // [binary layers]
void bind_compress(py::module_& m);  // weight sharing
void bind_norm(py::module_& m);  // [layer norm, embedding, reductions]
void bind_resize(py::module_& m);  // [resize, depth <-> space]
void bind_plan(py::module_& m);  // the compiled inference plan
void bind_ukr(py::module_& m);  // test hooks: registered micro-kernels on packed panels

}  // namespace fastnn

namespace {
namespace py = pybind11;
using namespace fastnn;

// glibc's malloc serves blocks above a dynamic threshold (128 KiB at start) with fresh mmap()s
// and gives the top of its heap back when more than twice that is free: a training step that
// frees and reallocates its activations every batch then takes a page fault per 4 KiB of each
// new array (ResNet-20, batch 128: ~30,000-38,000 faults and 60-90 ms of system time per step,
// a quarter of the step). Fixed thresholds keep blocks up to 32 MiB on the heap and keep up to
// 512 MiB of freed heap for the next batch: 0 faults per step, 247 -> 214 ms. Process-wide (numpy
// allocates through the same malloc); FASTNN_MALLOC_TUNE=0 leaves glibc's defaults.
constexpr int kMmapThreshold = 32 << 20, kTrimThreshold = 512 << 20;

std::string& malloc_policy_state() {
  static std::string s = "glibc defaults (FASTNN_MALLOC_TUNE=0)";
  return s;
}

void apply_malloc_policy() {
  const char* e = std::getenv("FASTNN_MALLOC_TUNE");
  if (e && std::string(e) == "0") return;
#if defined(__GLIBC__) && !defined(FASTNN_SANITIZE)
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 &&
      mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1)
    malloc_policy_state() =
        "glibc: blocks up to 32 MiB from the heap, up to 512 MiB of freed heap kept";
  else
    malloc_policy_state() = "glibc defaults (mallopt refused)";
#else
  malloc_policy_state() = "the C library's defaults (not glibc, or a sanitizer's allocator)";
#endif
}

py::dict build_info() {
  py::dict d;
  d["version"] = FASTNN_VERSION;
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
#ifdef _OPENMP
  d["openmp"] = _OPENMP;
#else
  d["openmp"] = py::none();
#endif
#ifdef FASTNN_SANITIZE
  d["sanitize"] = true;
#else
  d["sanitize"] = false;
#endif
  py::list compiled, supported;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (isa_compiled(isa)) compiled.append(isa_name(isa));
    if (isa_supported(isa)) supported.append(isa_name(isa));
  }
  d["isa_compiled"] = compiled;
  d["isa_supported"] = supported;
  d["isa_best"] = isa_name(best_isa());
  const CpuFeatures& f = cpu_features();
  py::dict cpu;
  cpu["avx2"] = f.avx2;
  cpu["fma"] = f.fma;
  cpu["avx512f"] = f.avx512f;
  cpu["avx512bw"] = f.avx512bw;
  cpu["avx512vl"] = f.avx512vl;
  cpu["avx512dq"] = f.avx512dq;
  cpu["avx512vnni"] = f.avx512vnni;
  cpu["avxvnni"] = f.avxvnni;
  cpu["avx512bf16"] = f.avx512bf16;
  cpu["amx_tile"] = f.amx_tile;
  cpu["amx_int8"] = f.amx_int8;
  cpu["amx_bf16"] = f.amx_bf16;
  d["cpu"] = cpu;
#ifdef FASTNN_BUILT_AMX
  d["amx_compiled"] = true;
#else
  d["amx_compiled"] = false;
#endif
  d["malloc"] = malloc_policy_state();
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastnn C++ kernels";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::out_of_range& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    }
  });
  init_dispatch();  // throws (-> ImportError) when FASTNN_ISA names an unusable ISA
  apply_malloc_policy();
  m.attr("__version__") = FASTNN_VERSION;
  m.def("build_info", &build_info);
  m.def("active_isa", [] { return std::string(isa_name(active_isa())); });
  m.def("set_isa", [](const std::string& name) { set_isa(name); }, py::arg("name"));
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("gemm_tile", [] { return py::make_tuple(kernels().f32_mr, kernels().f32_nr); });
  m.def("kernel_names", [] {
    py::list out;
    for (const KernelName& k : kernel_names()) out.append(py::make_tuple(k.slot, k.isa, k.symbol));
    return out;
  });
  bind_gemm(m);
  // [layers: elementwise, losses, dropout]
  bind_linear(m);
  bind_elementwise(m);
  bind_loss(m);

  // [layers: conv, pool, batchnorm]
  bind_conv(m);
  bind_pool_bn(m);
  bind_conv_leaves(m);

  // [optim]
  bind_optim(m);

  // [int8 GEMM]
  bind_quant_gemm(m);
  bind_quant(m);
  bind_quant_join(m);

  // [sparse / prune]
  bind_sparse(m);
  bind_prune(m);
  bind_binary(m);  // [binary layers]
  bind_compress(m);
  bind_norm(m);  // [layer norm, embedding, reductions]
  bind_resize(m);
  bind_plan(m);
  bind_ukr(m);

}
