// Builds the kernel table: reference kernels first, then each ISA that is both compiled in and
// supported overwrites what it provides. FASTNN_ISA (or set_isa) caps the choice at one ISA.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"

namespace fastnn {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic: return "generic";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::generic: return true;
#ifdef FASTNN_BUILT_AVX2
    case Isa::avx2: return true;
#endif
#ifdef FASTNN_BUILT_AVX512
    case Isa::avx512: return true;
#endif
    default: return false;
  }
}

bool isa_supported(Isa isa) {
  if (!isa_compiled(isa)) return false;
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::generic: return true;
    case Isa::avx2: return f.avx2 && f.fma;
    case Isa::avx512: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma;
  }
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::generic;
}

namespace {

KernelTable build(Isa isa) {
  KernelTable t;
  ref::register_kernels(t);
  t.isa = Isa::generic;
#ifdef FASTNN_BUILT_AVX2
  if (isa >= Isa::avx2) { avx2::register_kernels(t); t.isa = Isa::avx2; }
#endif
#ifdef FASTNN_BUILT_AVX512
  if (isa >= Isa::avx512) { avx512::register_kernels(t); t.isa = Isa::avx512; }
#endif
  return t;
}

KernelTable g_tables[3];
std::atomic<const KernelTable*> g_active{nullptr};
std::once_flag g_once;

void build_all() {
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
    if (isa_supported(isa)) g_tables[static_cast<int>(isa)] = build(isa);
}

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("FASTNN_ISA: unknown ISA '" + name +
                              "'; valid names are 'generic', 'avx2', 'avx512'");
}

}  // namespace

void set_isa(const std::string& name) {
  std::call_once(g_once, build_all);
  const Isa isa = parse_isa(name);
  if (!isa_supported(isa)) {
    throw std::invalid_argument(
        std::string("FASTNN_ISA: '") + name + "' is not usable here (" +
        (isa_compiled(isa) ? "this CPU or OS does not support it" : "it was not compiled in") +
        "); best available is '" + isa_name(best_isa()) + "'");
  }
  g_active.store(&g_tables[static_cast<int>(isa)]);
}

void init_dispatch() {
  std::call_once(g_once, build_all);
  const char* env = std::getenv("FASTNN_ISA");
  if (env && *env) set_isa(env);
  else g_active.store(&g_tables[static_cast<int>(best_isa())]);
}

Isa active_isa() { return kernels().isa; }

std::vector<KernelName> kernel_names() {
  const KernelTable& t = kernels();
  std::vector<KernelName> out;
#define FASTNN_SLOT_NAME(type, slot) \
  out.push_back(KernelName{#slot, isa_name(t.origin.slot.isa), t.origin.slot.symbol});
  FASTNN_KERNEL_SLOTS(FASTNN_SLOT_NAME)
#undef FASTNN_SLOT_NAME
  return out;
}

const KernelTable& kernels() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (!t) {
    init_dispatch();
    t = g_active.load();
  }
  return *t;
}

}  // namespace fastnn
