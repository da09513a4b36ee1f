// What the CPU *and the OS* support: CPUID feature bits, and XGETBV to confirm the OS saves the
// wider register state (an AVX-512 CPU under an OS that does not enable ZMM state must not use it).
#include "fastnn/ops.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define FASTNN_X86 1
#include <cpuid.h>
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
  const bool avx = (ecx >> 28) & 1;
  f.fma = (ecx >> 12) & 1;
  if (osxsave) {
    const uint64_t xcr0 = xgetbv0();
    f.os_avx = avx && ((xcr0 & 0x6) == 0x6);               // XMM and YMM state
    f.os_avx512 = f.os_avx && ((xcr0 & 0xe0) == 0xe0);     // opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    f.avx2 = (ebx >> 5) & 1;
    f.avx512f = (ebx >> 16) & 1;
    f.avx512dq = (ebx >> 17) & 1;
    f.avx512bw = (ebx >> 30) & 1;
    f.avx512vl = (ebx >> 31) & 1;
    f.avx512vnni = (ecx >> 11) & 1;
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    f.avxvnni = (eax >> 4) & 1;
  }
  if (!f.os_avx) f.avx2 = f.fma = f.avxvnni = false;
  if (!f.os_avx512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = false;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace fastnn
