// One ISA folder's registration pieces, included by runtime/register_kernels.cpp inside that
// folder's namespace after it defines FASTNN_KERNELS_INC (the folder's kernels.inc, as a path
// from csrc/kernels/) and FASTNN_KERNELS_ISA (its Isa enumerator). Declares the folder's kernels
// with their slots' signatures and defines fill_kernels(t), which puts each one into its slot,
// and set_blocking(t, {...}) for the folder's tiles and blocking. No include guard: once per ISA.
#define K(slot, symbol) FASTNN_DECLARE_KERNEL(slot, symbol)
#include FASTNN_KERNELS_INC
#undef K

inline void fill_kernels(KernelTable& t) {
#define K(slot, symbol) FASTNN_FILL_KERNEL(t, FASTNN_KERNELS_ISA, slot, symbol)
#include FASTNN_KERNELS_INC
#undef K
}

// An ISA's register tiles and cache blocks, given as one line of data.
struct IsaBlocking {
  int f32_mr, f32_nr;          // f32 GEMM register tile (rows x columns)
  int f32_kc, f32_mc, f32_nc;  // f32 GEMM cache blocks (docs/kernels.md, Cache blocking)
  int conv_mr, conv_nr;        // direct-convolution tile
  int spmm_nb;                 // sparse panel columns per register tile
  int spmv_max_batch;          // batches up to this run sparse matrix-vector products
};

inline void set_blocking(KernelTable& t, const IsaBlocking& b) {
  t.f32_mr = b.f32_mr;
  t.f32_nr = b.f32_nr;
  t.f32_kc = b.f32_kc;
  t.f32_mc = b.f32_mc;
  t.f32_nc = b.f32_nc;
  t.conv_mr = b.conv_mr;
  t.conv_nr = b.conv_nr;
  t.spmm_nb = b.spmm_nb;
  t.spmv_max_batch = b.spmv_max_batch;
}

#undef FASTNN_KERNELS_INC
#undef FASTNN_KERNELS_ISA
