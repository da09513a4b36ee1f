// Fixed-size blocks of an index range handed to the OpenMP team. The blocks (not the threads)
// define every partial result, so sums reduced over blocks in block order give the same bits for
// any thread count. Small ranges run on the calling thread without entering OpenMP.
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastnn/ops.h"

namespace fastnn {

// Calls body(begin, end) for [0, n) cut into blocks of `block` (the last may be shorter).
template <class F>
void parallel_blocks(int64_t n, int64_t block, const F& body) {
  if (n <= 0) return;
  block = std::max<int64_t>(block, 1);
  const int64_t nblocks = (n + block - 1) / block;
  const int nthreads = static_cast<int>(std::min<int64_t>(get_num_threads(), nblocks));
  if (nthreads <= 1) {
    for (int64_t b = 0; b < nblocks; ++b) body(b * block, std::min(n, (b + 1) * block));
    return;
  }
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int64_t b = 0; b < nblocks; ++b) body(b * block, std::min(n, (b + 1) * block));
}

}  // namespace fastnn
