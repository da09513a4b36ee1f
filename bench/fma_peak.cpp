// FMA-throughput and clock microbenchmark: the three factors of the peak used by compare_gemm.py.
//
//   clock:      a chain of dependent integer adds (latency 1 cycle on every x86 core) timed with
//               the thread's CPU-time clock gives cycles per second as the core actually runs it
//               (turbo included). CPU time, not wall time: on a shared machine a descheduled
//               thread must not look like a slow clock.
//   FLOP/cycle: 12 independent accumulators (more than latency x pipes on any current core)
//               each updated by vfmadd231ps; FMAs per second / clock x 2 x lanes.
//   cores:      the same loops run on every OpenMP thread at once (clock under full load).
//
// Build (compare_gemm.py does this on the fly):  g++ -O2 -fopenmp -mavx512f bench/fma_peak.cpp
// Output: one "key value" pair per line.
#include <omp.h>

#include <time.h>

#include <cstdint>
#include <cstdio>

namespace {

double now() {  // seconds of CPU time used by the calling thread
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// 16 dependent adds per iteration: 16 cycles per iteration at one add per cycle.
double add_chain_seconds(int64_t iters) {
  int64_t x = 0;
  const double t0 = now();
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        : "+r"(x));
  }
  return now() - t0;
}

#define FMA12(R)                                                                                  \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "0\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "1\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "2\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "3\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "4\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "5\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "6\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "7\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "8\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "9\n\t"                                                \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "10\n\t"                                               \
  "vfmadd231ps %%" R "12, %%" R "13, %%" R "11\n\t"

// 12 FMAs per iteration on zmm (16 lanes) or ymm (8 lanes).
double fma_seconds(int64_t iters, bool zmm) {
  const double t0 = now();
  if (zmm) {
    for (int64_t i = 0; i < iters; ++i)
      asm volatile(FMA12("zmm") ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                   "xmm8", "xmm9", "xmm10", "xmm11");
  } else {
    for (int64_t i = 0; i < iters; ++i)
      asm volatile(FMA12("ymm") ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                   "xmm8", "xmm9", "xmm10", "xmm11");
  }
  return now() - t0;
}

struct Result {
  double ghz, zmm_flop_per_cycle, ymm_flop_per_cycle;
};

// Best of a few rounds of each measurement (the machine is shared; best = least disturbed).
Result measure() {
  const int64_t add_iters = 20'000'000, fma_iters = 10'000'000;
  double t_add = 1e30, t_z = 1e30, t_y = 1e30;
  add_chain_seconds(add_iters / 4);  // warm up the clock
  for (int r = 0; r < 5; ++r) {
    double a = add_chain_seconds(add_iters), z = fma_seconds(fma_iters, true),
           y = fma_seconds(fma_iters, false);
    if (a < t_add) t_add = a;
    if (z < t_z) t_z = z;
    if (y < t_y) t_y = y;
  }
  Result res;
  const double hz = 16.0 * add_iters / t_add;
  res.ghz = hz / 1e9;
  res.zmm_flop_per_cycle = 12.0 * fma_iters * 2 * 16 / t_z / hz;
  res.ymm_flop_per_cycle = 12.0 * fma_iters * 2 * 8 / t_y / hz;
  return res;
}

}  // namespace

int main() {
  Result one = measure();
  std::printf("threads_1_ghz %.3f\n", one.ghz);
  std::printf("zmm_flop_per_cycle %.2f\n", one.zmm_flop_per_cycle);
  std::printf("ymm_flop_per_cycle %.2f\n", one.ymm_flop_per_cycle);
  const int nt = omp_get_max_threads();
  double ghz_all = 1e30;
#pragma omp parallel num_threads(nt)
  {
    Result r = measure();
#pragma omp critical
    if (r.ghz < ghz_all) ghz_all = r.ghz;
  }
  std::printf("cores %d\n", nt);
  std::printf("threads_all_ghz %.3f\n", ghz_all);
  return 0;
}
