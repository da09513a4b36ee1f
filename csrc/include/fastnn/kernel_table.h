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

// ---- [sparse / prune] function-pointer types ----
// CSR rows times a dense panel (W @ X). Rows o in [0, m) of a CSR matrix: row o holds entries
// p in [row_ptr[o], row_ptr[o+1]) with input index col[p] and value val[p] (row_ptr points at the
// first row's offset; col/val are the whole arrays). x is a dense panel whose row i (input i)
// starts at x + i*ldx and holds n contiguous floats (samples or pixels: the vector dimension).
//   y[o*ldy + j] = act(bias[o] + sum_p val[p] * x[col[p]*ldx + j])    for o < m, j < n
// bias may be null (0). ep.act is none or relu. Empty rows give act(bias). Nothing outside the
// m x n output is written; x is read only at rows named by col and columns < n.
using f32_spmm_fn = void (*)(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                             const float* val, const float* x, int64_t ldx, const float* bias,
                             float* y, int64_t ldy, const Epilogue& ep);
// CSR rows times one contiguous vector x: y[o] = act(bias[o] + sum_p val[p] * x[col[p]]), o < m.
// Same row conventions and epilogue contract as f32_spmm_fn; y is contiguous.
using f32_spmv_fn = void (*)(int64_t m, const int64_t* row_ptr, const int32_t* col,
                             const float* val, const float* x, const float* bias, float* y,
                             const Epilogue& ep);
// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols: packs a row-major batch into the
// inputs x samples panel of f32_spmm_fn and turns its outputs x samples result back. Each
// destination row is written in one run. Nothing outside the cols x rows image of dst is written.
using f32_transpose_fn = void (*)(int64_t rows, int64_t cols, const float* src, int64_t lds,
                                  float* dst, int64_t ldd);

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

  // ---- [sparse / prune] ----
  // spmm_nb: panel columns one register tile covers (the driver pads packed panels to it);
  // spmv_max_batch: X @ W^T with at most this many samples runs f32_spmv once per sample
  // (a batch too narrow to fill a vector row of the panel kernel).
  int spmm_nb = 0, spmv_max_batch = 0;
  f32_spmm_fn f32_spmm = nullptr;
  f32_spmv_fn f32_spmv = nullptr;
  f32_transpose_fn f32_transpose = nullptr;
};

// The active table (chosen at import; FASTNN_ISA overrides).
const KernelTable& kernels();

namespace ref { void register_kernels(KernelTable& t); }
namespace avx2 { void register_kernels(KernelTable& t); }
namespace avx512 { void register_kernels(KernelTable& t); }

}  // namespace fastnn
