// Weight sharing (fastnn.compress): exact 1-D Lloyd k-means on the sorted weights, nearest-centroid
// assignment and the clustered-parameter step (centroids move by the summed update of their
// members, then every member is rewritten from its centroid). Declared in bind_compress.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fastnn {

// Lloyd iterations on `n` values (any order) from the `k` centroids in `c` (updated in place,
// sorted ascending on return). A point goes to its nearest centroid (ties: the lower one); an empty
// cluster keeps its centroid. Returns the iterations run (stops when no centroid moves).
int64_t kmeans1d(const float* x, int64_t n, double* c, int64_t k, int64_t max_iter) {
  std::vector<double> v(x, x + n);
  std::sort(v.begin(), v.end());
  std::vector<double> s(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) s[i + 1] = s[i] + v[i];
  std::sort(c, c + k);
  int64_t it = 0;
  for (; it < max_iter; ++it) {
    bool moved = false;
    int64_t begin = 0;
    std::vector<double> nc(c, c + k);
    for (int64_t j = 0; j < k; ++j) {
      int64_t end = n;
      if (j + 1 < k) {
        const double b = 0.5 * (c[j] + c[j + 1]);
        end = std::upper_bound(v.begin() + begin, v.end(), b) - v.begin();
      }
      if (end > begin) nc[j] = (s[end] - s[begin]) / static_cast<double>(end - begin);
      moved = moved || nc[j] != c[j];
      begin = end;
    }
    std::copy(nc.begin(), nc.end(), c);
    std::sort(c, c + k);
    if (!moved) break;
  }
  return it;
}

// idx[i] = the nearest of the k sorted centroids to w[i] (ties: the lower index), or -1 where
// mask[i] == 0 (mask may be null).
void cluster_assign(const float* w, const float* mask, int64_t n, const float* c, int64_t k,
                    int32_t* idx) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    if (mask && mask[i] == 0.0f) {
      idx[i] = -1;
      continue;
    }
    const float v = w[i];
    int64_t j = std::lower_bound(c, c + k, v) - c;  // c[j-1] < v <= c[j]
    if (j == k) j = k - 1;
    else if (j > 0 && (v - c[j - 1]) <= (c[j] - v)) j = j - 1;
    idx[i] = static_cast<int32_t>(j);
  }
}

// After an optimizer's update of a clustered parameter: each centroid moves by the sum (or, if
// mean, the mean) of its members' updates w[i] - c[idx[i]] (accumulated in double, in index
// order), then w[i] = c[idx[i]] (0 where idx[i] < 0). idx values are < k (checked by the caller).
void cluster_step(float* w, const int32_t* idx, int64_t n, float* c, int64_t k, bool mean) {
  std::vector<double> sum(k, 0.0);
  std::vector<int64_t> count(k, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t j = idx[i];
    if (j < 0) continue;
    sum[j] += static_cast<double>(w[i]) - static_cast<double>(c[j]);
    ++count[j];
  }
  for (int64_t j = 0; j < k; ++j)
    if (count[j] > 0)
      c[j] = static_cast<float>(c[j] + (mean ? sum[j] / static_cast<double>(count[j]) : sum[j]));
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) w[i] = idx[i] < 0 ? 0.0f : c[idx[i]];
}

}  // namespace fastnn
