// The blocked five-loop GEMM driver (BLIS order: jc -> pc -> ic -> jr -> ir), shared by every
// f32 product in fastnn. Callers supply how A and B blocks are packed, so the same driver serves a
// plain strided matrix (gemm.cpp) and a convolution whose B panels are built straight from the
// image (im2col into the packed layout, conv2d.cpp). Packed layouts are those of docs/kernels.md.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "fastnn/kernel_table.h"
#include "fastnn/ops.h"
#include "fastnn/params.h"

namespace fastnn {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using aligned_ptr = std::unique_ptr<T[], AlignedFree>;

template <class T>
aligned_ptr<T> aligned_alloc_array(size_t count) {
  size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return aligned_ptr<T>(static_cast<T*>(p));
}

// Cache blocking for the f32 driver, in elements. kc is a multiple of 1; mc of mr; nc of nr.
struct GemmBlocking {
  int64_t mc, kc, nc;
};
GemmBlocking f32_blocking(const KernelTable& t, int64_t m, int64_t n, int64_t k, int nthreads);

// Packs A rows [i0, i0+mc) x cols [p0, p0+kc) into ceil(mc/mr) panels of kc*mr floats
// (panel-major, then k, then row), zero-filling rows past mc.
void pack_a_f32(const MatView& a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr, float* dst);
// Packs B rows [p0, p0+kc) x cols [j0, j0+nc) into ceil(nc/nr) panels of kc*nr floats
// (panel-major, then k, then column), zero-filling columns past nc.
void pack_b_f32(const MatView& b, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst);

// A packer is called as pack(i0_or_p0, p0_or_j0, rows_or_kc, cols_or_nc, dst); see gemm.cpp.
// PackA: void(int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* dst)
// PackB: void(int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* dst)
template <class PackA, class PackB>
void sgemm_driver(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b,
                  float* c, int64_t ldc, float alpha, float beta, const float* bias,
                  const Epilogue& ep);

}  // namespace fastnn

#include "gemm_driver_impl.h"
