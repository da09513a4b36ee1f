// Winograd F(m x m, 3 x 3) convolution (Lavin & Gray 2016), m = 2 or 4, alpha = m + 2.
//
// The output is cut into m x m tiles; tile t reads the alpha x alpha input patch d_t starting m
// pixels after the previous one (zero outside the input). For each output channel o:
//   Y_t[o] = A^T [ sum over input channels c of (G g_oc G^T) .* (B^T d_tc B) ] A
// so the element-wise products become alpha^2 independent GEMMs, one per transform point xi:
//   M[xi] (k x tiles) = U[xi] (k x c) @ V[xi] (c x tiles).
// The multiplications fall from 9 m^2 to alpha^2 per tile and channel pair: 2.25x for F(2x2),
// 4x for F(4x4). Data flow per block of `tb` tiles (one thread each, all in its L2):
//   0. (once per call) the input zero-padded so every tile's patch is inside it;
//   1. input transform by the f32_winograd_input leaf, which reads nr tiles' patches through
//      one pointer per tile and writes the GEMM's packed B-panel layout V[xi][panel][c][nr];
//   2. the alpha^2 GEMMs by the f32 GEMM micro-kernel on U (packed once per call as A panels)
//      and V, into M[xi][o][tile] (output channels in chunks, so M stays small);
//   3. output transform by the f32_winograd_output leaf (+ bias), scattered into y.
// Each tile is computed the same way whatever block it falls in, so the bits do not depend on
// the thread count. The filter transform (U) runs in double, once per call.
// Accuracy: F(4x4) with the points 0, +-1, +-2, inf has errors a few times those of F(2x2)
// (Barabasz et al. 2018); both stay within the bound tested in tests/kernels/test_winograd.py.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "conv2d_parts.h"

namespace fastnn {

namespace {

// G (alpha x 3) of F(2, 3) and F(4, 3).
constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kG4[6][3] = {{1.0 / 4, 0, 0},
                              {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                              {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                              {1.0 / 24, 1.0 / 12, 1.0 / 6},
                              {1.0 / 24, -1.0 / 12, 1.0 / 6},
                              {0, 0, 1}};

// Per-thread working set budget (V and M of one block): half a typical L2.
constexpr int64_t kBlockBytes = 256 * 1024;

// Tiles per panel (f32_nr) this driver supports.
constexpr int kMaxLanes = 64;

// U[xi] = (G g G^T)[xi] for every (o, c), packed as GEMM A panels: panel q of U[xi] holds rows
// [q*mr, q*mr + mr) (zero past k) as c steps of mr floats; U[xi] is u_stride floats.
const float* filter_transform(const float* w, int64_t k, int64_t c, int m, int mr,
                              int64_t u_stride) {
  const int a = m + 2;
  const double(*G)[3] = m == 2 ? kG2 : kG4;
  float* u = thread_scratch(ScratchSlot::winograd_filter, static_cast<size_t>(a * a * u_stride));
  std::fill(u, u + a * a * u_stride, 0.0f);
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), k));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t o = 0; o < k; ++o)
    for (int64_t ci = 0; ci < c; ++ci) {
      const float* g = w + (o * c + ci) * 9;
      double gg[6][3];  // G g
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < 3; ++j)
          gg[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
      float* dst = u + (o / mr) * c * mr + ci * mr + o % mr;
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < a; ++j)
          dst[(i * a + j) * u_stride] =
              static_cast<float>(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
    }
  return u;
}

struct TileGrid {
  int64_t th, tw, per_image, total;
  TileGrid(const Conv2dGeom& g, int m)
      : th((g.oh + m - 1) / m), tw((g.ow + m - 1) / m), per_image(th * tw),
        total(g.n * th * tw) {}
};

}  // namespace

void conv2d_winograd_forward(const float* x, const float* w, const float* bias, float* y,
                             const Conv2dGeom& g, int m) {
  conv2d_check_geom(g);
  conv2d_check_algorithm(ConvAlgo::winograd, g);
  if (m != 2 && m != 4)
    throw std::invalid_argument("conv2d_winograd_forward: m must be 2 or 4, got " +
                                std::to_string(m));
  if (!x || !w || !y) throw std::invalid_argument("conv2d_winograd_forward: null array");
  if (g.n == 0) return;
  const KernelTable& kt = kernels();
  const int mr = kt.f32_mr, nr = kt.f32_nr;
  if (nr > kMaxLanes) throw std::logic_error("conv2d_winograd_forward: f32_nr above kMaxLanes");
  const auto ukr = kt.f32_gemm_ukr;
  const auto input_tf = kt.f32_winograd_input;
  const auto output_tf = kt.f32_winograd_output;
  const int a = m + 2, a2 = a * a;
  const int64_t C = g.c, K = g.k, H = g.h, W = g.w, OH = g.oh, OW = g.ow;
  const TileGrid grid(g, m);

  const int64_t u_stride = (K + mr - 1) / mr * mr * C;
  const float* u = filter_transform(w, K, C, m, mr, u_stride);

  // Blocking: output channels in chunks of whole mr-row panels; tb tiles (whole nr panels) per
  // block, sized so the block's V and M fit the budget, and small enough to give every thread
  // at least one block.
  const int64_t kchunk = std::min<int64_t>((K + mr - 1) / mr * mr, std::max<int64_t>(mr, 128 / mr * mr));
  const int64_t kcb = std::max<int64_t>(1, kt.f32_kc);  // input channels per micro-kernel call
  const int64_t per_tile = a2 * (C + kchunk) * static_cast<int64_t>(sizeof(float));
  int64_t tb = std::clamp<int64_t>(kBlockBytes / per_tile / nr, 1, 8) * nr;
  int nt = get_num_threads();
  const int64_t fair = ((grid.total + nt - 1) / nt + nr - 1) / nr * nr;
  tb = std::max<int64_t>(nr, std::min(tb, fair));
  const int64_t nblocks = (grid.total + tb - 1) / tb;
  nt = static_cast<int>(std::min<int64_t>(nt, nblocks));

  // The input zero-padded so that every tile's patch lies inside it: rows [0, th*m + 2), columns
  // [0, wp) with the slack the input leaf's 8-float row reads need past the last patch.
  const int64_t hp = grid.th * m + 2, wp = grid.tw * m + std::max(2, 8 - m), plane = hp * wp;
  float* xp = thread_scratch(ScratchSlot::winograd_input, static_cast<size_t>(g.n * C * plane));
  {
    const auto copy_rows = kt.f32_copy_rows_padded;
    const int64_t planes = g.n * C;
    const int64_t top = std::min(g.ph, hp), rows = std::clamp<int64_t>(hp - g.ph, 0, H);
    const int pt = static_cast<int>(std::min<int64_t>(get_num_threads(), planes));
#pragma omp parallel for schedule(static) num_threads(pt)
    for (int64_t q = 0; q < planes; ++q) {
      float* dst = xp + q * plane;
      std::fill(dst, dst + top * wp, 0.0f);
      if (rows > 0) copy_rows(x + q * H * W, W, W, g.pw, rows, dst + top * wp, wp, wp);
      std::fill(dst + (top + rows) * wp, dst + plane, 0.0f);
    }
  }

  // Per-thread buffers, allocated before the parallel region (nothing throws inside it).
  const int64_t v_size = a2 * tb * C, m_size = a2 * kchunk * tb, e_size = nr * m * m;
  const int64_t per_thread = (v_size + m_size + e_size + 15) / 16 * 16;
  float* work = thread_scratch(ScratchSlot::winograd_work, static_cast<size_t>(nt * per_thread));

#pragma omp parallel num_threads(nt)
  {
    float* vbuf = work + conv::thread_id() * per_thread;
    float* mbuf = vbuf + v_size;
    float* edge = mbuf + m_size;  // nr tiles of m x m: outputs of tiles cut by the border
    int64_t img[kMaxLanes], ty[kMaxLanes], tx[kMaxLanes];
    const float* patch[kMaxLanes];
    float* out[kMaxLanes * 4];   // out[i*nr + l]: row i of tile l in channel 0 (null: cut)
    float* eout[kMaxLanes * 4];  // the same with cut tiles sent to `edge`
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nblocks; ++b) {
      const int64_t t0 = b * tb, cnt = std::min(tb, grid.total - t0);
      const int64_t panels = (cnt + nr - 1) / nr, ld = panels * nr;
      const int64_t vs = panels * C * nr;  // V[xi] stride
      auto locate = [&](int64_t p) {       // tile coordinates of panel p's lanes (-1: no tile)
        for (int l = 0; l < nr; ++l) {
          const int64_t t = t0 + p * nr + l;
          if (t >= t0 + cnt) {
            img[l] = -1;
            patch[l] = patch[0];  // read (inside the buffer), never stored
            continue;
          }
          img[l] = t / grid.per_image;
          const int64_t r = t % grid.per_image;
          ty[l] = r / grid.tw;
          tx[l] = r % grid.tw;
          patch[l] = xp + img[l] * C * plane + ty[l] * m * wp + tx[l] * m;
        }
      };
      // 1. Input transform into V[xi][panel][c][nr].
      for (int64_t p = 0; p < panels; ++p) {
        locate(p);
        for (int64_t ci = 0; ci < C; ++ci)
          input_tf(m, patch, ci * plane, wp, nr, vbuf + (p * C + ci) * nr, vs);
      }
      for (int64_t k0 = 0; k0 < K; k0 += kchunk) {
        const int64_t kn = std::min(kchunk, K - k0);
        const int64_t ms = kn * ld;  // M[xi] stride
        // 2. M[xi] (kn x tiles) = U[xi] rows [k0, k0 + kn) @ V[xi].
        for (int xi = 0; xi < a2; ++xi) {
          const float* ux = u + xi * u_stride;
          const float* vx = vbuf + xi * vs;
          float* mx = mbuf + xi * ms;
          for (int64_t r = k0; r < k0 + kn; r += mr) {
            const float* up = ux + (r / mr) * C * mr;
            const int64_t rows = std::min<int64_t>(mr, K - r);
            for (int64_t p = 0; p < panels; ++p)
              for (int64_t c0 = 0; c0 < C; c0 += kcb)
                ukr(std::min(kcb, C - c0), up + c0 * mr, vx + p * C * nr + c0 * nr,
                    mx + (r - k0) * ld + p * nr, ld, rows, nr, 1.0f, c0 > 0 ? 1 : 0);
          }
        }
        // 3. Output transform (+ bias) into y; tiles cut by the border via `edge`.
        for (int64_t p = 0; p < panels; ++p) {
          locate(p);
          bool cut = false;
          for (int l = 0; l < nr; ++l) {
            const bool whole = img[l] >= 0 && ty[l] * m + m <= OH && tx[l] * m + m <= OW;
            cut = cut || !whole;
            for (int i = 0; i < m; ++i) {
              out[i * nr + l] =
                  whole ? y + (img[l] * K * OH + ty[l] * m + i) * OW + tx[l] * m : nullptr;
              eout[i * nr + l] = edge + (l * m + i) * m;
            }
          }
          for (int64_t o = 0; o < kn; ++o) {
            const int64_t ch = k0 + o, off = ch * OH * OW;
            const float* src = mbuf + o * ld + p * nr;
            const float bo = bias ? bias[ch] : 0.0f;
            if (!cut) {
              output_tf(m, src, ms, nr, bo, out, off);
              continue;
            }
            for (int64_t e = 0; e < nr * m; ++e)
              if (out[e]) eout[e] = out[e] + off;
            output_tf(m, src, ms, nr, bo, eout, 0);
            for (int l = 0; l < nr && img[l] >= 0; ++l) {
              if (out[l]) continue;  // whole: written in place
              const int64_t oy0 = ty[l] * m, ox0 = tx[l] * m;
              const int64_t rows = std::min<int64_t>(m, OH - oy0), cols = std::min<int64_t>(m, OW - ox0);
              float* dst = y + ((img[l] * K + ch) * OH + oy0) * OW + ox0;
              for (int i = 0; i < rows; ++i)
                for (int j = 0; j < cols; ++j) dst[i * OW + j] = edge[(l * m + i) * m + j];
            }
          }
        }
      }
    }
  }
}

}  // namespace fastnn
