// Activation statistics for fit's Diagnostics, gathered while the activation's own pass runs:
// each block is reduced right after its leaf wrote it (still in cache), so the statistics cost
// one read of data the core just produced, never a separate pass over the array.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

class ActStatsAcc {
 public:
  // s may be null (no statistics); n elements cut into blocks of `block` (parallel_blocks').
  ActStatsAcc(const ActStats* s, int64_t n, int64_t block);
  bool on() const { return s_ != nullptr; }
  // Reduce y[b, e) -- one block of parallel_blocks; safe to call from any thread.
  void block(const float* y, int64_t b, int64_t e);
  // Add the block sums into s->acc in block order (the bits do not depend on the thread count).
  void finish();

 private:
  const ActStats* s_;
  int64_t block_;
  std::vector<double> sums_;  // (sum, sum of squares) per block
  std::mutex mu_;             // guards the per-channel counts (integers: any order is exact)
};

}  // namespace fastnn
