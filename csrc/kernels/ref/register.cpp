#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

// The kernels this ISA provides (kernels.inc: one K(slot, symbol) line per slot), declared,
// and fill_kernels(t).
#define FASTNN_KERNELS_INC "ref/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::generic
#include "../register_body.h"

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  // f32 tile, f32 kc/mc/nc, conv tile, spmm_nb, spmv_max_batch
  // (spmm_nb 64: long inner loops the compiler vectorises, 3x faster than 8)
  set_blocking(t, {8, 8, 256, 128, 4096, 8, 8, 64, 1});
  t.f32_gemm_narrow = F32GemmTile{};  // none

  t.s8_mr = 4;
  t.s8_gemm_name = "generic u8s8 4x32";
}

}  // namespace ref
}  // namespace fastnn
