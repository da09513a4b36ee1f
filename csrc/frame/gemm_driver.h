// The blocked five-loop GEMM driver (BLIS order: jc -> pc -> ic -> jr -> ir), shared by every
// f32 product in fastnn. Callers supply how A and B blocks are packed, so the same driver serves a
// plain strided matrix (gemm.cpp) and a convolution whose panels are built straight from the
// image (im2col into the packed layout). Packed layouts, blocking and threading: docs/kernels.md.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

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

// A 64-byte aligned buffer of at least `count` floats owned by the calling thread, one per slot,
// grown on demand and kept for the next call (so steady-state GEMMs allocate nothing and take no
// page faults). Sizes are bounded by the blocking. The pointer stays valid until the same thread
// asks for the same slot again. The driver takes both slots on the calling thread, before its
// parallel region (the A slot holds one A block per thread).
enum class ScratchSlot : int {
  gemm_a = 0,
  gemm_b = 1,
  winograd_filter = 2,  // conv2d_winograd_forward: transformed weights,
  winograd_input = 3,   // the padded input,
  winograd_work = 4,    // the threads' block buffers
  count = 5
};
float* thread_scratch(ScratchSlot slot, size_t count);

// Which tile the driver runs for an m x n product: the main tile, or the ISA's narrow tile where
// n fills its lanes much better (see f32_choose_tile in gemm.cpp).
F32GemmTile f32_choose_tile(const KernelTable& t, int64_t m, int64_t n);

// How one product is cut into blocks and shared among threads (all counts >= 1).
struct GemmPlan {
  int64_t kc;       // K block (balanced: the k blocks differ by at most 1)
  int64_t nc;       // N block, a multiple of nr
  int64_t n_ic;     // M blocks; block b covers tile rows [b*mt/n_ic, (b+1)*mt/n_ic), mt = ceil(m/mr)
  int64_t mc_max;   // rows of the largest M block (A buffer size / kc)
  int64_t n_slices; // each M block's tiles in one N block are split in this many column slices
  int nthreads;     // threads for this product (fewer than asked for tiny products)
};
GemmPlan f32_plan(const KernelTable& t, const F32GemmTile& tile, int64_t m, int64_t n, int64_t k,
                  int nthreads);

// Packs A rows [i0, i0+mc) x cols [p0, p0+kc) into ceil(mc/mr) micro-panels of kc*mr floats
// (panel-major, then k, then row), zero-filling rows past mc.
void pack_a_f32(const MatView& a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr, float* dst);
// Packs B rows [p0, p0+kc) x cols [j0, j0+nc) into ceil(nc/nr) micro-panels of kc*nr floats
// (panel-major, then k, then column), zero-filling columns past nc.
void pack_b_f32(const MatView& b, int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst);
// The whole operand in those layouts (all rows/columns, the whole K), packed by the threads.
void pack_a_f32_whole(const MatView& a, int mr, float* dst);
void pack_b_f32_whole(const MatView& b, int nr, float* dst);

// Packers (called concurrently from several threads, each with its own dst; they must not throw:
// they run inside an OpenMP region):
//   PackA: void(int64_t i0, int64_t p0, int64_t mc, int64_t kc, int mr, float* dst)
//   PackB: void(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int nr, float* dst)
// writing the layouts of pack_a_f32 / pack_b_f32 for the panel width they are given. A packer
// without the width argument (five arguments) is also accepted; the driver then always runs the
// main tile (kernels().f32_mr x f32_nr), which is the width such a packer must assume.
// The driver calls pack_b for a run of whole micro-panels of the B block (j0 - jc a multiple of
// nr), pack_a for a whole M block.
// tile: run this register tile instead of choosing one (both packers must take the width). The
// bf16 products pass the table's bf16_gemm tile; their packers write bf16 pair words into the
// same float-sized panel buffers (kernel_table.h "[bf16 GEMM]").
template <class PackA, class PackB>
void sgemm_driver(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b,
                  float* c, int64_t ldc, float alpha, float beta, const float* bias,
                  const Epilogue& ep, const F32GemmTile* tile = nullptr);

}  // namespace fastnn

#include "gemm_driver_impl.h"
