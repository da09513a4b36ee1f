// The kernel table: one set of leaf-kernel function pointers per ISA, built once (dispatch.cpp).
// Tile sizes live here, next to the kernels that depend on them, never in the drivers.
#pragma once
#include <cstdint>

#include "fastnn/params.h"

namespace fastnn {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// ---- [f32 GEMM] function-pointer types -----------------------------------------------------------
// Micro-kernel contract (the full text, with the packed layouts, is in docs/kernels.md):
//   a: packed A micro-panel, k steps of mr floats (step p holds A[0..mr)[p]).
//   b: packed B micro-panel, k steps of nr floats (step p holds B[p][0..nr)), 64-byte aligned.
//   c: row-major tile with row stride ldc; only the top-left m x n (1 <= m <= mr, 1 <= n <= nr) is
//      read or written (edge tiles use the same body with masked stores).
//   acc[i][j] = sum over p < k, in increasing p, of a[p*mr + i] * b[p*nr + j]   (k >= 1)
//   C[0:m,0:n] = alpha * acc            if accumulate == 0 (C is never read: it may hold NaN)
//   C[0:m,0:n] = C + alpha * acc        if accumulate != 0
// Every ISA's kernel reduces in the same increasing-p order with one accumulator per element, so
// the result bits do not depend on how the driver partitions the tiles among threads.
using f32_gemm_ukr_fn = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                 int64_t m, int64_t n, float alpha, int accumulate);

// A register tile: its shape and its micro-kernel (ukr null: the tile is absent).
struct F32GemmTile {
  int mr = 0, nr = 0;
  f32_gemm_ukr_fn ukr = nullptr;
};

// Packs a block of a strided matrix X into consecutive micro-panels of width w:
//   dst[(i / w)*kc*w + p*w + i % w] = src[i*s_i + p*s_p]   for i < count, p < kc
//   ... = 0 for count <= i < ceil(count / w) * w              (the last panel's padding)
// (A block: i = row, p = column of A, w = mr; B block: i = column, p = row of B, w = nr.)
// count >= 1, kc >= 1; strides may be negative. dst holds ceil(count/w)*kc*w floats.
using f32_pack_panels_fn = void (*)(const float* src, int64_t s_i, int64_t s_p, int64_t count,
                                   int64_t kc, int w, float* dst);

// Epilogue on a finished row-major tile (hot in L1): c = act(c + bias[col]).
// bias may be null. Applied once per output tile after the last K block.
using f32_epilogue_fn = void (*)(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                                 const Epilogue& ep);

// Elementwise activation over a contiguous array: y = act(x) (in place allowed).
using f32_act_fn = void (*)(const float* x, float* y, int64_t n, const Epilogue& ep);

// ---- [layers: elementwise, losses, dropout] function-pointer types ----

// ---- [layers: conv, pool, batchnorm] function-pointer types ----

// ---- [optim] function-pointer types ----

// ---- [int8 GEMM] function-pointer types ----

// ---- [sparse / prune] function-pointer types ----

struct KernelTable {
  Isa isa = Isa::generic;

  // ---- [f32 GEMM] ----
  // The main register tile (used for every shape unless the narrow tile fits n better).
  int f32_mr = 0, f32_nr = 0;
  f32_gemm_ukr_fn f32_gemm_ukr = nullptr;
  // Optional tile for small n (n well below f32_nr); ukr null where the ISA has none. The driver
  // picks between the two by how many of each tile's lanes the shape fills (f32_choose_tile).
  F32GemmTile f32_gemm_narrow;
  // Cache blocking upper bounds in elements (BLIS's KC, MC, NC): a kc x nr B micro-panel stays in
  // L1 while the mc x kc A block stays in L2 and the kc x nc B block in L3. kc fixes the order of
  // the K reduction, so it depends on the ISA and k only, never on the thread count.
  int f32_kc = 0, f32_mc = 0, f32_nc = 0;
  f32_pack_panels_fn f32_pack_panels = nullptr;
  f32_epilogue_fn f32_epilogue = nullptr;
  f32_act_fn f32_act = nullptr;

  // ---- [layers: elementwise, losses, dropout] ----

  // ---- [layers: conv, pool, batchnorm] ----

  // ---- [optim] ----

  // ---- [int8 GEMM] ----

  // ---- [sparse / prune] ----
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

}  // namespace fastnn
