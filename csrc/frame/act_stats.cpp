// ActStatsAcc (act_stats.h) and act_stats_accumulate (ops.h): see ActStats in ops.h.
#include "act_stats.h"

#include <algorithm>
#include <stdexcept>

#include "parallel_blocks.h"

namespace fastnn {

namespace {
constexpr int64_t kStatsBlock = 32768;

// Sum, sum of squares and count of positives of y[0, len). `omp simd` lets the compiler keep
// vector partial sums (reassociation that plain -O3 may not do for floats); the order is fixed at
// compile time, so the result is the same on every run.
void reduce_run(const float* y, int64_t len, double* sum, double* sumsq, double* pos) {
  float s = 0.0f, q = 0.0f, p = 0.0f;
#pragma omp simd reduction(+ : s, q, p)
  for (int64_t i = 0; i < len; ++i) {
    const float v = y[i];
    s += v;
    q += v * v;
    p += v > 0.0f ? 1.0f : 0.0f;
  }
  *sum += s;
  *sumsq += q;
  *pos += p;
}
}  // namespace

ActStatsAcc::ActStatsAcc(const ActStats* s, int64_t n, int64_t block) : s_(s), block_(block) {
  if (s_ == nullptr) return;
  if (s_->acc == nullptr || s_->channels < 1 || s_->inner < 1)
    throw std::invalid_argument("stats: needs an accumulator, channels >= 1 and inner >= 1");
  sums_.assign(static_cast<size_t>(2 * ((n + block - 1) / std::max<int64_t>(block, 1))), 0.0);
}

void ActStatsAcc::block(const float* y, int64_t b, int64_t e) {
  if (s_ == nullptr || e <= b) return;
  const int64_t C = s_->channels, inner = s_->inner;
  // Channel of element i: (i / inner) % C. The block spans rows r0..r1 of length `inner`.
  const int64_t r0 = b / inner, r1 = (e - 1) / inner;
  const int64_t K = r1 - r0 + 1;
  const bool wrap = K > C;  // every channel touched: count by channel; else by row offset
  std::vector<double> pos(static_cast<size_t>(wrap ? C : K), 0.0);
  double sum = 0.0, sumsq = 0.0;
  if (inner == 1) {  // (N, C): channels run along the row
    for (int64_t i = b; i < e; ++i) {
      const float v = y[i];
      sum += v;
      sumsq += static_cast<double>(v) * v;
      if (v > 0.0f) pos[wrap ? i % C : i - r0] += 1.0;
    }
  } else {
    for (int64_t r = r0; r <= r1; ++r) {
      const int64_t lo = std::max(b, r * inner), hi = std::min(e, (r + 1) * inner);
      reduce_run(y + lo, hi - lo, &sum, &sumsq, &pos[wrap ? r % C : r - r0]);
    }
  }
  double* acc = s_->acc;
  const int64_t blk = b / block_;
  sums_[2 * blk] = sum;
  sums_[2 * blk + 1] = sumsq;
  std::lock_guard<std::mutex> lock(mu_);
  acc[0] += static_cast<double>(e - b);
  for (int64_t k = 0; k < static_cast<int64_t>(pos.size()); ++k)
    acc[3 + (wrap ? k : (r0 + k) % C)] += pos[k];
}

void ActStatsAcc::finish() {
  if (s_ == nullptr) return;
  for (size_t k = 0; k < sums_.size(); k += 2) {
    s_->acc[1] += sums_[k];
    s_->acc[2] += sums_[k + 1];
  }
}

void act_stats_accumulate(const float* y, int64_t n, const ActStats& s) {
  ActStatsAcc acc(&s, n, kStatsBlock);
  parallel_blocks(n, kStatsBlock, [&](int64_t b, int64_t e) { acc.block(y, b, e); });
  acc.finish();
}

}  // namespace fastnn
