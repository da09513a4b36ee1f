// AVX2 packing of a block of f32 GEMM micro-panels (contract: f32_pack_panels_fn in
// kernel_table.h).
//
// Three source layouts, one body each, tails by partial loads/stores (gemm_avx2_util.h):
//   s_i == 1  the values of one k step are contiguous (row-major B, A given transposed): each
//             source line is swept once, 8 lanes at a time, into all the panels.
//   s_p == 1  each line is contiguous along k (row-major A, or B given transposed): per panel,
//             8 lines x 8 steps are loaded, transposed in registers, stored as 8 steps.
//   other     strided gather, element by element (only non-contiguous views take it).
#include <immintrin.h>

#include <algorithm>

#include "fastnn/kernel_table.h"
#include "gemm_avx2_util.h"

namespace fastnn {
namespace avx2 {

namespace {

// The transposing path reads up to 8 lines at once, 32 bytes of each per step: more concurrent
// streams than the hardware prefetchers follow, so it stalls on memory when the source is not
// cached. Prefetching each line 3 cache lines ahead hides that latency. Prefetches never fault.
constexpr int kPrefetchAhead = 48;  // floats

// In-register transpose of an 8x8 block: r[i] holds row i on entry, column i on return.
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int g = 0; g < 2; ++g) {
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);      // a0 b0 c0 d0 | a4 ..
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);      // a1 b1 c1 d1 | a5 ..
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);  // a2 .. | a6 ..
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);  // a3 .. | a7 ..
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

}  // namespace

void f32_pack_panels(const float* src, int64_t s_i, int64_t s_p, int64_t count, int64_t kc, int w,
                     float* dst) {
  const int64_t n_panels = (count + w - 1) / w;
  if (s_i == 1) {
    // One sweep along each source line p (sequential reads), spread over the panels.
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = src + p * s_p;
      for (int64_t jp = 0; jp < n_panels; ++jp) {
        float* d = dst + jp * kc * w + p * w;
        const int64_t i0 = jp * w;
        for (int i = 0; i < w; i += 8) store8(d + i, load8(s + i0 + i, count - i0 - i), w - i);
      }
    }
  } else if (s_p == 1) {
    // Per panel: 8 lines x 8 steps at a time, transposed in registers.
    for (int64_t jp = 0; jp < n_panels; ++jp) {
      const float* s = src + jp * w * s_i;
      float* d = dst + jp * kc * w;
      const int64_t valid = count - jp * w;  // lines of this panel present in the source
      for (int64_t p = 0; p < kc; p += 8) {
        const int64_t steps = kc - p < 8 ? kc - p : 8;
        for (int i0 = 0; i0 < w; i0 += 8) {
          __m256 r[8];
          for (int i = 0; i < 8; ++i) {
            if (i0 + i >= valid) {
              r[i] = _mm256_setzero_ps();
              continue;
            }
            const float* line = s + (i0 + i) * s_i + p;
            if ((p & 8) == 0)  // once per 64-byte line
              _mm_prefetch(reinterpret_cast<const char*>(line + kPrefetchAhead), _MM_HINT_T0);
            r[i] = load8(line, steps);
          }
          transpose8x8(r);
          for (int64_t q = 0; q < steps; ++q) {
            // A panel narrower than 8 (w = mr = 6) stores whole vectors: the extra lanes land in
            // the next step's (or next panel's) slot, which is written after this one. Only the
            // block's very last step stores exactly w lanes.
            const bool spill_ok = w <= 8 && (jp + 1 < n_panels || p + q + 1 < kc);
            store8(d + (p + q) * w + i0, r[q], spill_ok ? 8 : w - i0);
          }
        }
      }
    }
  } else {
    for (int64_t jp = 0; jp < n_panels; ++jp) {
      const int64_t valid = std::min<int64_t>(w, count - jp * w);
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + jp * kc * w + p * w;
        const float* s = src + jp * w * s_i + p * s_p;
        int64_t i = 0;
        for (; i < valid; ++i) d[i] = s[i * s_i];
        for (; i < w; ++i) d[i] = 0.0f;
      }
    }
  }
}

}  // namespace avx2
}  // namespace fastnn
