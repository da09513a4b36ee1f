// AVX-512 packing of a block of f32 GEMM micro-panels (contract: f32_pack_panels_fn in
// kernel_table.h).
//
// Three source layouts, one body each, tails by masks:
//   s_i == 1  the values of one k step are contiguous (row-major B, A given transposed): each
//             source line is swept once, 16 lanes at a time, into all the panels.
//   s_p == 1  each line is contiguous along k (row-major A, or B given transposed): per panel,
//             16 lines x 16 steps are loaded, transposed in registers, stored as 16 steps.
//   other     strided gather, element by element (only non-contiguous views take it).
#include <algorithm>

#include "fastnn/kernel_table.h"
#include "gemm_ukr_tile.h"  // (includes <immintrin.h>)

namespace fastnn {
namespace avx512 {

namespace {

// The transposing path reads up to 16 lines at once, 64 bytes of each per step: more concurrent
// streams than the hardware prefetchers follow, so it stalls on memory when the source is not
// cached (a 12544 x 288 im2col-sized A). Prefetching each line 3 cache lines ahead hides that
// latency (measured: ~1.8x faster packing of such an A from DRAM). Prefetches never fault.
constexpr int kPrefetchAhead = 48;  // floats

// In-register transpose of a 16x16 block: r[i] holds row i on entry, column i on return.
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // interleave row pairs: t[2i] = a0 b0 a1 b1 | a4 b4 a5 b5 | ...
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // rows 4g..4g+3, column j + 4*lane128 in r[4g + j]
    const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  __m512 out[16];
  for (int j = 0; j < 4; ++j) {  // gather the four row groups' 128-bit lanes of column j + 4L
    const __m512 lo01 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);   // g0 c_j, g0 c_j+8, g1 c_j, g1 c_j+8
    const __m512 hi01 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);   // ... columns j+4, j+12
    const __m512 lo23 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 hi23 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    out[j] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
    out[j + 8] = _mm512_shuffle_f32x4(lo01, lo23, 0xdd);
    out[j + 4] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
    out[j + 12] = _mm512_shuffle_f32x4(hi01, hi23, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = out[i];
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
        for (int i = 0; i < w; i += 16) {
          const __m512 v = _mm512_maskz_loadu_ps(lanes16(count - i0 - i), s + i0 + i);  // 0 past count
          _mm512_mask_storeu_ps(d + i, lanes16(w - i), v);
        }
      }
    }
  } else if (s_p == 1) {
    // Per panel: 16 lines x 16 steps at a time, transposed in registers.
    for (int64_t jp = 0; jp < n_panels; ++jp) {
      const float* s = src + jp * w * s_i;
      float* d = dst + jp * kc * w;
      const int64_t valid = count - jp * w;  // lines of this panel present in the source
      for (int64_t p = 0; p < kc; p += 16) {
        const __mmask16 kmask = lanes16(kc - p);
        const int64_t steps = kc - p < 16 ? kc - p : 16;
        for (int i0 = 0; i0 < w; i0 += 16) {
          __m512 r[16];
          for (int i = 0; i < 16; ++i) {
            if (i0 + i >= valid) {
              r[i] = _mm512_setzero_ps();
              continue;
            }
            const float* line = s + (i0 + i) * s_i + p;
            _mm_prefetch(reinterpret_cast<const char*>(line + kPrefetchAhead), _MM_HINT_T0);
            r[i] = _mm512_maskz_loadu_ps(kmask, line);
          }
          transpose16x16(r);
          const __mmask16 wmask = lanes16(w - i0);
          for (int64_t q = 0; q < steps; ++q) _mm512_mask_storeu_ps(d + (p + q) * w + i0, wmask, r[q]);
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

}  // namespace avx512
}  // namespace fastnn
