// Every C++ entry point of fastnn, declared once. Drivers (csrc/frame) define them, check their
// arguments (throwing std::invalid_argument with the argument's name, expected and actual shape)
// and call leaf kernels through kernels().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fastnn/kernel_table.h"
#include "fastnn/params.h"

namespace fastnn {

// ---- runtime -------------------------------------------------------------------------------------
struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
  bool avxvnni = false;
  bool os_avx = false, os_avx512 = false;  // XGETBV: the OS saves the registers
};
const CpuFeatures& cpu_features();
bool isa_supported(Isa isa);   // compiled in AND supported by this CPU and OS
bool isa_compiled(Isa isa);
Isa best_isa();
Isa active_isa();
// Switch the active table; throws std::invalid_argument for an unknown or unsupported ISA.
void set_isa(const std::string& name);
// Reads FASTNN_ISA (if set) and builds the table; throws if the requested ISA is not usable.
void init_dispatch();

int get_num_threads();
void set_num_threads(int n);

// ---- f32 GEMM --------------------------------------------------------------------------------------
// C[m x n] = epilogue(alpha * op(A) @ op(B) + beta * C + bias), with op given by the views' strides.
// c is row-major with row stride ldc. bias (length n) may be null. beta is 0 or 1.
struct GemmArgs {
  MatView a;  // m x k
  MatView b;  // k x n
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* bias = nullptr;
  Epilogue ep;
};
void sgemm(const GemmArgs& args);

// The naive triple loop, for tests and as the reference the kernels are checked against.
void sgemm_reference(const GemmArgs& args);

// ---- [layers: elementwise, losses, dropout] ----

// ---- [layers: conv, pool, batchnorm] ----

// ---- [optim] ----

// ---- [int8 GEMM] ----

// ---- [sparse / prune] ----
// A compressed sparse row matrix (W: rows = outputs, cols = inputs, like a Linear weight). Row o
// holds entries [row_ptr[o], row_ptr[o+1]) with strictly increasing col and their values.
struct CsrView {
  int64_t rows = 0, cols = 0;
  const int64_t* row_ptr = nullptr;  // rows + 1 offsets, row_ptr[0] == 0
  const int32_t* col = nullptr;
  const float* val = nullptr;
  int64_t nnz() const { return rows > 0 ? row_ptr[rows] : 0; }
};
struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> col;
  std::vector<float> val;
  int64_t nnz() const { return static_cast<int64_t>(val.size()); }
  int64_t nbytes() const;  // as stored: values + indices + row offsets
  CsrView view() const;
};
// Entries with |w| > threshold are kept (threshold 0: exact zeros dropped; NaN is always kept).
// Throws for threshold < 0 or NaN, or more than 2^31-1 columns.
CsrMatrix csr_from_dense(const MatView& w, float threshold);
// Takes ownership of CSR arrays after validating them (offsets from 0, non-decreasing, ending at
// nnz; columns in range and strictly increasing within a row).
CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, std::vector<int64_t> row_ptr,
                          std::vector<int32_t> col, std::vector<float> val);
// Writes the dense rows x cols matrix (row stride ld).
void csr_to_dense(const CsrView& w, float* out, int64_t ld);
// Y[b, o] = act(sum_i X[b, i] * W[o, i] + bias[o]): x is batch x w.cols (any strides), y has row
// stride ldy >= w.rows. bias (length w.rows) may be null. ep.act: none or relu.
void sparse_linear(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy);
// Y[o, j] = act(sum_i W[o, i] * X[i, j] + bias[o]): x is w.cols x n (any strides; an im2col
// matrix of a convolution), y has row stride ldy >= n. bias may be null. ep.act: none or relu.
void sparse_matmul(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy);

}  // namespace fastnn
