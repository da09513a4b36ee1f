// The AMX switches (kernel_table.h): one mode per product kind -- int8 (gemm_s8.cpp) and bf16
// (gemm_bf16.cpp) -- each starting 'off' when FASTNN_NO_AMX is set, else automatic, and refused
// 'on' where its tiles are not usable.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {
std::atomic<int>& amx_state(AmxKind kind) {
  static const int initial = [] {
    const char* e = std::getenv("FASTNN_NO_AMX");
    return static_cast<int>(e && *e && std::strcmp(e, "0") != 0 ? S8AmxMode::off
                                                                : S8AmxMode::automatic);
  }();
  static std::atomic<int> state[2] = {{initial}, {initial}};
  return state[static_cast<int>(kind)];
}
}  // namespace

bool amx_usable(AmxKind kind) {
#ifdef FASTNN_BUILT_AMX
  const CpuFeatures& f = cpu_features();
  return (kind == AmxKind::s8 ? f.amx_int8 : f.amx_bf16) && amx_tiles_granted();
#else
  (void)kind;
  return false;
#endif
}

S8AmxMode amx_mode(AmxKind kind) { return static_cast<S8AmxMode>(amx_state(kind).load()); }

void set_amx_mode(AmxKind kind, S8AmxMode mode) {
  if (mode != S8AmxMode::off && mode != S8AmxMode::automatic && mode != S8AmxMode::on)
    throw std::invalid_argument("amx: unknown mode");
  const char* what = kind == AmxKind::s8 ? "int8" : "bf16";
  if (mode == S8AmxMode::on && !amx_usable(kind))
    throw std::invalid_argument(std::string("amx: AMX ") + what + " tiles are not usable here "
                                "(the CPU lacks amx_" + what + ", the OS did not grant tile "
                                "data, or this build has no AMX kernels)");
  amx_state(kind).store(static_cast<int>(mode));
}

bool s8_amx_usable() { return amx_usable(AmxKind::s8); }
S8AmxMode s8_amx_mode() { return amx_mode(AmxKind::s8); }
void set_s8_amx_mode(S8AmxMode mode) { set_amx_mode(AmxKind::s8, mode); }
bool bf16_amx_usable() { return amx_usable(AmxKind::bf16); }
S8AmxMode bf16_amx_mode() { return amx_mode(AmxKind::bf16); }
void set_bf16_amx_mode(S8AmxMode mode) { set_amx_mode(AmxKind::bf16, mode); }

}  // namespace fastnn
