// Why the sparse weights are plain CSR: the measurement behind the choice (AVX-512 machines).
//
//   g++ -O3 -std=c++17 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -Icsrc/include \
//       bench/sparse_format_probe.cpp -o /tmp/sparse_format_probe && /tmp/sparse_format_probe
//
// For a 1024x1024 weight with unstructured (magnitude-pruned) zeros at several densities, times
// W @ X (X: 1024 x 64, in L2) with
//   csr   fastnn's kernel (simd/spmm_csr_body.h in csrc/kernels/avx512/bodies.cpp): one zmm load of X per FMA;
//   4x1   a blocked format (4 output rows share each stored input column, zeros stored inside a
//         block): 4 loads of X feed 16 FMAs, but with unstructured zeros a block is non-empty with
//         probability 1 - (1 - density)^4, so it stores and multiplies 3-4x the nonzeros;
// and W @ x for one sample with fastnn's scalar-FMA SpMV against a 16-wide vgatherdps version.
// Times are the best of 200 calls (a shared machine: the fastest call is the uncontended one).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <cassert>
#include <cstdint>

#include "fastnn/kernel_table.h"

// fastnn's AVX-512 CSR kernels, instantiated as csrc/kernels/avx512/bodies.cpp does.
namespace fastnn {
namespace avx512 {
#include "../csrc/kernels/simd/vec_avx512.h"
constexpr int spmm_sets(int nv) { return nv >= 3 ? 2 : 4; }  // avx512/bodies.cpp's choice
#include "../csrc/kernels/simd/spmm_csr_body.h"
}  // namespace avx512
}  // namespace fastnn

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
double best(F f, int n) {
  double b = 1e30;
  f();
  for (int i = 0; i < n; ++i) {
    const double t = now();
    f();
    b = std::min(b, now() - t);
  }
  return b;
}

// Y[4b + r, 0:64] = sum over blocks p of row-block b: val[4p + r] * X[col[p], 0:64].
void spmm_blocked_4x1(int64_t row_blocks, const int64_t* bptr, const int32_t* bcol,
                      const float* bval, const float* x, int64_t ldx, float* y, int64_t ldy) {
  for (int64_t b = 0; b < row_blocks; ++b) {
    __m512 vacc[4][4];
    for (auto& row : vacc)
      for (auto& v : row) v = _mm512_setzero_ps();
    for (int64_t p = bptr[b]; p < bptr[b + 1]; ++p) {
      const float* xi = x + static_cast<int64_t>(bcol[p]) * ldx;
      __m512 vx[4];
      for (int v = 0; v < 4; ++v) vx[v] = _mm512_loadu_ps(xi + 16 * v);
      for (int r = 0; r < 4; ++r) {
        const __m512 vw = _mm512_set1_ps(bval[4 * p + r]);
        for (int v = 0; v < 4; ++v) vacc[r][v] = _mm512_fmadd_ps(vw, vx[v], vacc[r][v]);
      }
    }
    for (int r = 0; r < 4; ++r)
      for (int v = 0; v < 4; ++v) _mm512_storeu_ps(y + (4 * b + r) * ldy + 16 * v, vacc[r][v]);
  }
}

void spmv_gather16(int64_t m, const int64_t* rp, const int32_t* col, const float* val,
                   const float* x, float* y) {
  for (int64_t o = 0; o < m; ++o) {
    __m512 vacc = _mm512_setzero_ps();
    for (int64_t p = rp[o]; p < rp[o + 1]; p += 16) {
      const __mmask16 k = fastnn::avx512::Vec::first(rp[o + 1] - p);
      const __m512i vidx = _mm512_maskz_loadu_epi32(k, col + p);
      vacc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, val + p),
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, vidx, x, 4), vacc);
    }
    y[o] = _mm512_reduce_add_ps(vacc);
  }
}

}  // namespace

int main() {
  constexpr int N = 1024, K = 1024, P = 64;
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  float* x = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * K * P));
  for (int i = 0; i < K * P; ++i) x[i] = u(gen);
  std::vector<float> y(N * P), xv(K), yv(N);
  for (auto& v : xv) v = u(gen);
  const fastnn::Epilogue ep;
  std::printf("density  nnz     4x1 stored/nnz  csr us   4x1 us  | spmv: scalar us  gather us\n");
  for (double density : {0.05, 0.1, 0.2, 0.3}) {
    std::vector<float> w(static_cast<size_t>(N) * K);
    for (auto& v : w) v = u(gen) < density ? u(gen) - 0.5f : 0.0f;
    std::vector<int64_t> rp(N + 1, 0), bptr(N / 4 + 1, 0);
    std::vector<int32_t> col, bcol;
    std::vector<float> val, bval;
    for (int o = 0; o < N; ++o) {
      for (int i = 0; i < K; ++i)
        if (w[o * K + i] != 0.0f) { col.push_back(i); val.push_back(w[o * K + i]); }
      rp[o + 1] = static_cast<int64_t>(col.size());
    }
    for (int b = 0; b < N / 4; ++b) {
      for (int i = 0; i < K; ++i) {
        bool any = false;
        for (int r = 0; r < 4; ++r) any |= w[(4 * b + r) * K + i] != 0.0f;
        if (!any) continue;
        bcol.push_back(i);
        for (int r = 0; r < 4; ++r) bval.push_back(w[(4 * b + r) * K + i]);
      }
      bptr[b + 1] = static_cast<int64_t>(bcol.size());
    }
    const double t_csr = best([&] {
      fastnn::avx512::f32_spmm_csr(N, P, rp.data(), col.data(), val.data(), x, P, nullptr,
                                         y.data(), P, ep);
    }, 200);
    const double t_blk = best([&] {
      spmm_blocked_4x1(N / 4, bptr.data(), bcol.data(), bval.data(), x, P, y.data(), P);
    }, 200);
    const double t_mv = best([&] {
      fastnn::avx512::f32_spmv_csr_fma8(N, rp.data(), col.data(), val.data(), xv.data(), nullptr,
                                        yv.data(), ep);
    }, 300);
    const double t_gather = best([&] {
      spmv_gather16(N, rp.data(), col.data(), val.data(), xv.data(), yv.data());
    }, 300);
    std::printf("%-7.2f  %-6zu  %-14.2f  %-7.1f  %-7.1f |       %-9.1f  %.1f\n", density, col.size(),
                4.0 * bcol.size() / col.size(), t_csr * 1e6, t_blk * 1e6, t_mv * 1e6,
                t_gather * 1e6);
  }
  std::free(x);
  return 0;
}
