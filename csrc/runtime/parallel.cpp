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

// Thread count, process-wide, and visible to threadpoolctl.
//
// threadpoolctl (what scikit-learn users reach for) finds the OpenMP runtime among the loaded
// libraries and limits it with omp_set_num_threads(k), which sets the calling thread's
// nthreads-var ICV, and reads back omp_get_max_threads(). fastnn keeps its own process-wide value
// (so set_num_threads holds whichever Python thread calls in, where a per-thread ICV would not)
// and mirrors it into each calling thread's ICV, remembering what it wrote. When a thread's ICV
// differs from what fastnn last wrote there, someone changed it through the OpenMP API -- a
// threadpoolctl limit -- and that value wins until it is restored. (A fastnn.set_num_threads made
// inside a threadpool_limits context lasts until the context restores the ICV on exit.)
namespace {
#ifdef _OPENMP
int icv_threads() { return omp_get_max_threads(); }
#else
int icv_threads() { return 1; }
#endif
// The OpenMP default of this process (OMP_NUM_THREADS, else all cores): every thread's ICV
// starts there.
int process_default() {
  static const int d = icv_threads();
  return d;
}
std::atomic<int> g_threads{0};     // 0: never set
thread_local int t_mirrored = 0;   // what fastnn last wrote into this thread's ICV (0: nothing)

void mirror(int n) {
#ifdef _OPENMP
  if (omp_in_parallel()) return;  // a team thread's ICV is the region's business
  omp_set_num_threads(n);
#endif
  t_mirrored = n;
}
}  // namespace

int get_num_threads() {
#ifdef _OPENMP
  // Inside an active parallel region at the nesting limit (a kernel run by the inference plan's
  // team, or a GEMM inside a convolution's per-image team) a new region gets one thread: say so,
  // since callers split their work into as many parts as this returns and hand part i to thread
  // i. (Without this, under OMP_NUM_THREADS=1 a kernel inside the plan's team read the process
  // setting, split its images in two, and only the first half was computed.)
  if (omp_in_parallel() && omp_get_active_level() >= omp_get_max_active_levels()) return 1;
#endif
  const int expected = t_mirrored ? t_mirrored : process_default();
  const int icv = icv_threads();
  const int mine = g_threads.load(std::memory_order_relaxed);
  if (mine <= 0 || icv != expected) return icv;  // fastnn unset, or an OpenMP-API limit in force
  if (icv != mine) mirror(mine);
  return mine;
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
#ifndef _OPENMP
  n = 1;
#endif
  process_default();  // read the default before the first change of an ICV
  g_threads.store(n);
  mirror(n);
}

}  // namespace fastnn
