// Pruning: mask application, the magnitude selection behind magnitude_prune, and unit norms for
// unit_prune. ISA-free; element arithmetic goes through the kernel table.
//
// Magnitude selection ranks every entry by one 64-bit key, (|w| bits << 33) | global index: for a
// non-negative float the IEEE bit pattern orders like the value, NaN patterns sort above +inf, and
// the index makes every key distinct -- so "the k smallest" is one well-defined set (ties go to the
// earlier tensor, then the lower index) found by one nth_element, O(total), whatever the thread
// count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastnn/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

// Entries per parallel chunk of mask_apply; below two chunks one thread does it all.
constexpr int64_t kMaskChunk = 1 << 16;
constexpr int kIndexBits = 33;

inline uint64_t rank_key(float w, int64_t index) {
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof bits);
  return (static_cast<uint64_t>(bits & 0x7fffffffu) << kIndexBits) | static_cast<uint64_t>(index);
}

}  // namespace

void mask_apply(float* x, const float* mask, int64_t n) {
  if (n < 0) throw std::invalid_argument("mask_apply: n must be >= 0, got " + std::to_string(n));
  if (n == 0) return;
  if (!x || !mask) throw std::invalid_argument("mask_apply: null array");
  const KernelTable& kt = kernels();
  const int64_t chunks = (n + kMaskChunk - 1) / kMaskChunk;
  if (chunks < 2 || get_num_threads() == 1) {
    kt.f32_mask_mul(x, mask, n);
    return;
  }
#pragma omp parallel for num_threads(get_num_threads()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t a = c * kMaskChunk;
    kt.f32_mask_mul(x + a, mask + a, std::min(kMaskChunk, n - a));
  }
}

int64_t magnitude_masks(const std::vector<PruneTensor>& tensors, int64_t n_zero) {
  int64_t total = 0, already = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const PruneTensor& p = tensors[t];
    if (p.n < 0 || (p.n > 0 && (!p.w || !p.out)))
      throw std::invalid_argument("weights[" + std::to_string(t) + "]: bad array");
    total += p.n;
  }
  if (total >= (int64_t{1} << kIndexBits))
    throw std::invalid_argument("weights: more than 2^33 entries in one selection");
  if (n_zero < 0 || n_zero > total)
    throw std::invalid_argument("n_zero: expected a count in [0, " + std::to_string(total) +
                                "], got " + std::to_string(n_zero));
  for (const PruneTensor& p : tensors)
    if (p.mask)
      for (int64_t i = 0; i < p.n; ++i) already += p.mask[i] == 0.0f;
  const int64_t need = n_zero - already;
  uint64_t threshold = 0;  // entries with key <= threshold are added (when need > 0)
  if (need > 0) {
    std::vector<uint64_t> keys;
    keys.reserve(static_cast<size_t>(total - already));
    int64_t base = 0;
    for (const PruneTensor& p : tensors) {
      for (int64_t i = 0; i < p.n; ++i)
        if (!p.mask || p.mask[i] != 0.0f) keys.push_back(rank_key(p.w[i], base + i));
      base += p.n;
    }
    std::nth_element(keys.begin(), keys.begin() + (need - 1), keys.end());
    threshold = keys[static_cast<size_t>(need - 1)];
  }
  int64_t base = 0;
  for (const PruneTensor& p : tensors) {
    for (int64_t i = 0; i < p.n; ++i) {
      const bool pruned = (p.mask && p.mask[i] == 0.0f) ||
                          (need > 0 && rank_key(p.w[i], base + i) <= threshold);
      p.out[i] = pruned ? 0.0f : 1.0f;
    }
    base += p.n;
  }
  return std::max(already, n_zero);
}

void row_norms(const float* w, int64_t rows, int64_t cols, int p, double* norms) {
  if (p != 1 && p != 2) throw std::invalid_argument("p: expected 1 or 2, got " + std::to_string(p));
  if (rows < 0 || cols < 0)
    throw std::invalid_argument("row_norms: negative shape (" + std::to_string(rows) + ", " +
                                std::to_string(cols) + ")");
  const KernelTable& kt = kernels();
  const int nt = rows * cols >= 2 * kMaskChunk ? get_num_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    norms[r] = p == 1 ? kt.f32_sum_abs(row, cols) : std::sqrt(kt.f32_sum_sq(row, cols));
  }
}

}  // namespace fastnn
