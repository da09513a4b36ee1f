// Embedding lookup: y[i, :] = weight[idx[i], :] for n indices into a (num, dim) table, and its
// backward, the scatter-add dweight[idx[i], :] += dy[i, :] (the padding row excluded).
// The backward is deterministic at any thread count: the positions are bucketed by row with a
// counting sort (stable: each row keeps its positions in input order), then threads own ranges of
// rows and each row sums its positions in that order. No atomics, no per-thread copies.
// embedding_renorm is PyTorch's max_norm: the rows the indices name are rescaled in place before
// the lookup (norms in double).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastnn/ops.h"

namespace fastnn {

namespace {

int threads_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>(get_num_threads(), std::max<int64_t>(count, 1)));
}

}  // namespace

void embedding_check(const int64_t* idx, int64_t n, int64_t num, int64_t dim) {
  if (num < 1 || dim < 0)
    throw std::invalid_argument("weight: expected a (num_embeddings >= 1, embedding_dim >= 0) "
                                "table, got (" + std::to_string(num) + ", " +
                                std::to_string(dim) + ")");
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= num)
      throw std::invalid_argument("input: expected indices in [0, " + std::to_string(num - 1) +
                                  "] (num_embeddings " + std::to_string(num) + "), got " +
                                  std::to_string(idx[i]) + " at flat position " +
                                  std::to_string(i));
}

void embedding_forward(const int64_t* idx, int64_t n, const float* weight, int64_t num,
                       int64_t dim, float* y) {
  embedding_check(idx, n, num, dim);
#pragma omp parallel for schedule(static) num_threads(threads_for(n * dim / 4096 + 1))
  for (int64_t i = 0; i < n; ++i)
    std::copy(weight + idx[i] * dim, weight + (idx[i] + 1) * dim, y + i * dim);
}

void embedding_backward(const float* dy, const int64_t* idx, int64_t n, int64_t num, int64_t dim,
                        int64_t padding_idx, bool scale_by_freq, float* dweight) {
  embedding_check(idx, n, num, dim);
  if (padding_idx < -1 || padding_idx >= num)
    throw std::invalid_argument("padding_idx: expected -1 (none) or an index in [0, " +
                                std::to_string(num - 1) + "], got " +
                                std::to_string(padding_idx));
  if (n == 0 || dim == 0) return;
  // Counting sort of the positions by row: start[r] .. start[r + 1] in order[].
  std::vector<int64_t> start(static_cast<size_t>(num + 1), 0);
  for (int64_t i = 0; i < n; ++i) ++start[idx[i] + 1];
  for (int64_t r = 0; r < num; ++r) start[r + 1] += start[r];
  std::vector<int64_t> order(static_cast<size_t>(n)), fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) order[fill[idx[i]]++] = i;
#pragma omp parallel for schedule(static) num_threads(threads_for(n * dim / 4096 + 1))
  for (int64_t r = 0; r < num; ++r) {
    if (r == padding_idx || start[r] == start[r + 1]) continue;
    float* dw = dweight + r * dim;
    const float freq = scale_by_freq ? static_cast<float>(start[r + 1] - start[r]) : 1.0f;
    for (int64_t k = start[r]; k < start[r + 1]; ++k) {
      const float* g = dy + order[k] * dim;
      for (int64_t j = 0; j < dim; ++j) dw[j] += scale_by_freq ? g[j] / freq : g[j];
    }
  }
}

void embedding_renorm(const int64_t* idx, int64_t n, float* weight, int64_t num, int64_t dim,
                      double max_norm, double norm_type) {
  embedding_check(idx, n, num, dim);
  if (!(max_norm >= 0.0) || !std::isfinite(max_norm))
    throw std::invalid_argument("max_norm: expected a finite number >= 0, got " +
                                std::to_string(max_norm));
  if (!(norm_type > 0.0))
    throw std::invalid_argument("norm_type: expected a number > 0 (or inf), got " +
                                std::to_string(norm_type));
  std::vector<int64_t> rows;
  std::vector<char> seen(static_cast<size_t>(num), 0);
  for (int64_t i = 0; i < n; ++i)
    if (!seen[idx[i]]) {
      seen[idx[i]] = 1;
      rows.push_back(idx[i]);
    }
  const int64_t count = static_cast<int64_t>(rows.size());
#pragma omp parallel for schedule(static) num_threads(threads_for(count * dim / 4096 + 1))
  for (int64_t k = 0; k < count; ++k) {
    float* w = weight + rows[k] * dim;
    double norm = 0.0;
    if (std::isinf(norm_type)) {
      for (int64_t j = 0; j < dim; ++j) norm = std::max(norm, std::fabs(double{w[j]}));
    } else {
      for (int64_t j = 0; j < dim; ++j) norm += std::pow(std::fabs(double{w[j]}), norm_type);
      norm = std::pow(norm, 1.0 / norm_type);
    }
    if (norm > max_norm) {
      const float scale = static_cast<float>(max_norm / (norm + 1e-7));
      for (int64_t j = 0; j < dim; ++j) w[j] *= scale;
    }
  }
}

}  // namespace fastnn
