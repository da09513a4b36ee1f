// Loss drivers: target checks, threading over fixed row/element blocks and the reductions.
// Partial sums are formed per block and added in block order in double, so a loss is the same
// float for any thread count.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"
#include "parallel_blocks.h"

namespace fastnn {

namespace {

constexpr int64_t kElemBlock = 16384;

int64_t rows_per_block(int64_t cols) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)); }

void check_targets(const CrossEntropyArgs& a) {
  if (a.cols < 1)
    throw std::invalid_argument(std::string(a.name) + ": input: expected at least one class, got 0");
  if (!(a.label_smoothing >= 0.0f && a.label_smoothing <= 1.0f))
    throw std::invalid_argument(std::string(a.name) + ": label_smoothing must be in [0, 1], got " +
                                std::to_string(a.label_smoothing));
  for (int64_t i = 0; i < a.rows; ++i) {
    const int64_t t = a.target[i];
    if (t < 0 || t >= a.cols)
      throw std::invalid_argument(std::string(a.name) + ": target: class index " + std::to_string(t) +
                                  " at position " + std::to_string(i) + " is out of range [0, " +
                                  std::to_string(a.cols) + ")");
  }
}

// Sum of the targets' class weights: the denominator of the weighted mean (rows without weights).
double target_weight_sum(const CrossEntropyArgs& a) {
  if (!a.weight) return static_cast<double>(a.rows);
  double s = 0.0;
  for (int64_t i = 0; i < a.rows; ++i) s += a.weight[a.target[i]];
  return s;
}

}  // namespace

Reduction reduction_from_string(const std::string& s) {
  if (s == "mean") return Reduction::mean;
  if (s == "sum") return Reduction::sum;
  if (s == "none") return Reduction::none;
  throw std::invalid_argument("reduction: expected 'mean', 'sum' or 'none', got '" + s + "'");
}

double cross_entropy_forward(const CrossEntropyArgs& a, float* lse, float* row_loss) {
  check_targets(a);
  const KernelTable& t = kernels();
  const int64_t cols = a.cols;
  parallel_blocks(a.rows, rows_per_block(cols), [&](int64_t b, int64_t e) {
    t.f32_xent_forward(a.logits + b * cols, e - b, cols, a.target + b, a.weight, a.label_smoothing,
                       lse + b, row_loss + b);
  });
  double s = 0.0;
  for (int64_t i = 0; i < a.rows; ++i) s += row_loss[i];
  if (a.reduction == Reduction::mean) s /= target_weight_sum(a);
  return s;
}

void cross_entropy_backward(const CrossEntropyArgs& a, const float* lse, const float* grad_rows,
                            float* dx) {
  check_targets(a);
  const KernelTable& t = kernels();
  const int64_t cols = a.cols;
  float w_sum = static_cast<float>(cols);
  if (a.weight) {
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += a.weight[j];
    w_sum = static_cast<float>(s);
  }
  const float scale =
      a.reduction == Reduction::mean ? static_cast<float>(1.0 / target_weight_sum(a)) : 1.0f;
  const float* rs = a.reduction == Reduction::none ? grad_rows : nullptr;
  parallel_blocks(a.rows, rows_per_block(cols), [&](int64_t b, int64_t e) {
    t.f32_xent_backward(a.logits + b * cols, lse + b, e - b, cols, a.target + b, a.weight, w_sum,
                        a.label_smoothing, scale, rs ? rs + b : nullptr, dx + b * cols);
  });
}

namespace {

void check_pointwise(const PointwiseLoss& l) {
  if (!enum_valid<PointwiseLossKind>(static_cast<int>(l.kind)))
    throw std::invalid_argument("kind: expected a fastnn._C.PointwiseLossKind, got the value " +
                                std::to_string(static_cast<int>(l.kind)));
  if (l.pos_weight && l.pw_len < 1) throw std::invalid_argument("pos_weight: must not be empty");
  if (l.kind == PointwiseLossKind::huber && !(std::isfinite(l.delta) && l.delta > 0.0f))
    throw std::invalid_argument("delta: expected a finite number > 0 (Huber loss), got " +
                                std::to_string(l.delta));
}

}  // namespace

double pointwise_loss_forward(const PointwiseLoss& l, const float* x, const float* t,
                              const float* w, int64_t n, float* out) {
  check_pointwise(l);
  const KernelTable& k = kernels();
  const int64_t nblocks = (n + kElemBlock - 1) / kElemBlock;
  std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(nblocks, 1)), 0.0);
  parallel_blocks(n, kElemBlock, [&](int64_t b, int64_t e) {
    partial[static_cast<size_t>(b / kElemBlock)] =
        k.f32_pointwise_loss(l, x + b, t + b, w ? w + b : nullptr, b, e - b, out ? out + b : nullptr);
  });
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

void pointwise_loss_backward(const PointwiseLoss& l, const float* x, const float* t,
                             const float* w, int64_t n, const float* g, float scale, float* dx) {
  check_pointwise(l);
  const KernelTable& k = kernels();
  parallel_blocks(n, kElemBlock, [&](int64_t b, int64_t e) {
    k.f32_pointwise_loss_backward(l, x + b, t + b, w ? w + b : nullptr, b, e - b, g ? g + b : nullptr,
                                  scale, dx + b);
  });
}

}  // namespace fastnn
