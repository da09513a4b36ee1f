// Instruction-throughput probe for the int8 benchmark (bench/compare_quant.py --peak compiles and
// runs it): core clock (a chain of dependent 1-cycle adds), vpdpbusd zmm and vfmadd231ps zmm
// throughput with 12 independent accumulators (more than latency x issue width), all on one core,
// best of many short runs so a shared machine's preemption does not count.
//   g++ -O3 -mavx512f -mavx512vnni bench/peak_probe.cpp -o /tmp/peak_probe && /tmp/peak_probe
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr int kAcc = 12;
constexpr long kIters = 200000;

template <class F>
double best_seconds(F f) {
  double best = 1e30;
  for (int r = 0; r < 30; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return best;
}

long add_chain() {  // 16 dependent adds per iteration: 1 cycle each
  long x = 0;
  for (long i = 0; i < kIters; ++i) {
    __asm__ volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
        : "+r"(x));
  }
  return x;
}

__m512i dpbusd_run() {
  __m512i acc[kAcc];
#pragma GCC unroll 12
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi32(0x01010101), b = _mm512_set1_epi32(0x02020202);
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc[i]) : "v"(a), "v"(b));
  }
  __m512i s = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_epi32(s, acc[i]);
  return s;
}

__m512 fma_run() {
  __m512 acc[kAcc];
#pragma GCC unroll 12
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) __asm__("vfmadd231ps %2, %1, %0" : "+v"(acc[i]) : "v"(a), "v"(b));
  }
  __m512 s = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  return s;
}

volatile long g_sink_l;
volatile int g_sink_i;
volatile float g_sink_f;

}  // namespace

int main() {
  const double t_add = best_seconds([] { g_sink_l = add_chain(); });
  const double hz = 16.0 * kIters / t_add;
  const double t_dp = best_seconds([] { g_sink_i = _mm512_reduce_add_epi32(dpbusd_run()); });
  const double t_fma = best_seconds([] { g_sink_f = _mm512_reduce_add_ps(fma_run()); });
  const double n = double(kIters) * kAcc;
  const double dp_per_cycle = n / t_dp / hz, fma_per_cycle = n / t_fma / hz;
  // One vpdpbusd zmm: 64 u8*s8 products + 64 adds = 128 ops; one vfmadd zmm: 16 FMAs = 32 FLOP.
  std::printf("clock_ghz %.3f\n", hz / 1e9);
  std::printf("vpdpbusd_zmm_per_cycle %.3f\n", dp_per_cycle);
  std::printf("vfmadd_zmm_per_cycle %.3f\n", fma_per_cycle);
  std::printf("int8_gops_per_core %.1f\n", 128.0 * n / t_dp / 1e9);
  std::printf("f32_gflops_per_core %.1f\n", 32.0 * n / t_fma / 1e9);
  return 0;
}
