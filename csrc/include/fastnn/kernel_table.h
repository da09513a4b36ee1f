// The kernel table: one set of leaf-kernel function pointers per ISA, built once (dispatch.cpp).
// Tile sizes live here, next to the kernels that depend on them, never in the drivers.
#pragma once
#include <cstdint>

#include "fastnn/params.h"

namespace fastnn {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// ---- f32 GEMM micro-kernel ---------------------------------------------------------------------
// Contract (see docs/kernels.md):
//   a: packed A panel, k steps of mr floats (column p holds A[0..mr)[p]), 64-byte aligned.
//   b: packed B panel, k steps of nr floats (row p holds B[p][0..nr)), 64-byte aligned.
//   c: row-major tile with row stride ldc; only the top-left m x n (m <= mr, n <= nr) is touched.
//   acc = sum over p < k of a[p*mr + i] * b[p*nr + j]
//   C[0:m,0:n] = alpha * acc            if accumulate == 0 (C is never read: it may hold NaN)
//   C[0:m,0:n] = C + alpha * acc        if accumulate != 0
//   k >= 1.
using f32_gemm_ukr_fn = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                 int64_t m, int64_t n, float alpha, int accumulate);

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
// u8 x s8 -> s32 GEMM micro-kernel with a fused requantisation epilogue (docs/int8_gemm.md).
// Packed B (weights) layout, shared by every ISA so a packed weight never depends on the table:
//   panels of kS8NR = 32 columns; in a panel, k grouped by kS8KG = 4: group g holds, for column
//   c = 0..31, the 4 bytes B[4g..4g+3][c] (bytes 128*g + 4*c + q); columns past n and k past K
//   are zero. One panel is kg * 128 bytes (kg = ceil(K / 4)).
// A (activations, u8) is read as 4-byte groups: row i, group g at a + i * a_rs + g * a_gs.
//   Direct (row-major A, K % 4 == 0): a_rs = lda, a_gs = 4. Packed: a_rs = 4, a_gs = 4 * m.
constexpr int kS8NR = 32, kS8KG = 4;
enum class S8Out : int { s32 = 0, f32 = 1, u8 = 2 };
// Per output column j (pointers already advanced to the tile's first column, each readable for a
// full 32-column panel: the driver pads them with zeros):
//   acc'  = acc + offset[j]                        int32, exact (offset = bias_i32 - za * colsum)
//   s32:  out = acc'
//   f32:  y = fma(float(acc'), scale[j], shift[j]); out = relu ? (y > 0 ? y : +0) : y
//   u8 :  y = fma(float(acc'), scale[j], shift[j]); y = min(max(y, lo), hi);
//         out = round-half-to-even(y)      (float32 arithmetic, default rounding mode)
struct S8Epilogue {
  S8Out out = S8Out::s32;
  const int32_t* offset = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  float lo = 0.0f, hi = 255.0f;  // u8 clamp (lo = z_out for ReLU)
  int relu = 0;                  // f32 only
};
// kg >= 0 groups of 4 along K; b: one packed panel (from its group 0); c: row-major tile of the
// output dtype with row stride ldc (elements); only rows [0, m) (1 <= m <= s8_mr) and columns
// [0, n) (1 <= n <= 32) are written; A rows >= m are never read.
using s8_gemm_ukr_fn = void (*)(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs,
                                const int8_t* b, void* c, int64_t ldc, int64_t m, int64_t n,
                                const S8Epilogue& ep);
// Whether the AVX-512 VNNI kernel may be registered: the CPU has avx512vnni and FASTNN_NO_VNNI is
// unset (that switch exercises the fallback on VNNI machines). ISA-free; defined in gemm_s8.cpp.
bool s8_vnni_usable();

// ---- [sparse / prune] function-pointer types ----

struct KernelTable {
  Isa isa = Isa::generic;

  // ---- [f32 GEMM] ----
  int f32_mr = 0, f32_nr = 0;
  f32_gemm_ukr_fn f32_gemm_ukr = nullptr;
  f32_epilogue_fn f32_epilogue = nullptr;
  f32_act_fn f32_act = nullptr;

  // ---- [layers: elementwise, losses, dropout] ----

  // ---- [layers: conv, pool, batchnorm] ----

  // ---- [optim] ----

  // ---- [int8 GEMM] ----
  int s8_mr = 0;                       // max rows of one micro-tile (columns: kS8NR)
  s8_gemm_ukr_fn s8_gemm_ukr = nullptr;
  const char* s8_gemm_name = "";       // e.g. "avx512_vnni u8s8 14x32"

  // ---- [sparse / prune] ----
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

}  // namespace fastnn
