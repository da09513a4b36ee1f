// What the CPU *and the OS* support: CPUID feature bits, and XGETBV to confirm the OS saves the
// wider register state (an AVX-512 CPU under an OS that does not enable ZMM state must not use it).
#include "fastnn/ops.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define FASTNN_X86 1
#include <cpuid.h>
#endif
#if defined(__linux__) && FASTNN_X86
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fastnn {

namespace {

#if FASTNN_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if FASTNN_X86
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1;
  bool os_amx = false;
  const bool avx = (ecx >> 28) & 1;
  f.fma = (ecx >> 12) & 1;
  if (osxsave) {
    const uint64_t xcr0 = xgetbv0();
    f.os_avx = avx && ((xcr0 & 0x6) == 0x6);               // XMM and YMM state
    f.os_avx512 = f.os_avx && ((xcr0 & 0xe0) == 0xe0);     // opmask, ZMM_Hi256, Hi16_ZMM
    os_amx = (xcr0 & 0x60000) == 0x60000;                  // XTILECFG, XTILEDATA
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    f.avx2 = (ebx >> 5) & 1;
    f.avx512f = (ebx >> 16) & 1;
    f.avx512dq = (ebx >> 17) & 1;
    f.avx512bw = (ebx >> 30) & 1;
    f.avx512vl = (ebx >> 31) & 1;
    f.avx512vnni = (ecx >> 11) & 1;
    f.amx_bf16 = (edx >> 22) & 1;
    f.amx_tile = (edx >> 24) & 1;
    f.amx_int8 = (edx >> 25) & 1;
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    f.avxvnni = (eax >> 4) & 1;
    f.avx512bf16 = (eax >> 5) & 1;
  }
  if (!os_amx) f.amx_tile = f.amx_int8 = f.amx_bf16 = false;
  if (!f.os_avx) f.avx2 = f.fma = f.avxvnni = false;
  if (!f.os_avx512)
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = false;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool amx_tiles_granted() {
  static const bool granted = [] {
    const CpuFeatures& f = cpu_features();
    if (!f.amx_tile || !f.avx512f) return false;
#if defined(__linux__) && FASTNN_X86
    // Linux (5.16+) enables tile data per process on request; without the grant the first tile
    // instruction faults. ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
  }();
  return granted;
}

}  // namespace fastnn
