// Thread count, one process-wide value. Default: OMP_NUM_THREADS if set, else all cores (the
// OpenMP runtime's default). Every parallel region names it (num_threads(get_num_threads())), so the
// setting holds whichever Python thread calls in.
#include <atomic>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {
int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n <= 0) {
    n = default_threads();
    g_threads.store(n);
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
#ifndef _OPENMP
  n = 1;
#endif
  g_threads.store(n);
}

}  // namespace fastnn
