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
  t.f32_mr = 8;
  t.f32_nr = 8;
  t.f32_gemm_narrow = F32GemmTile{};  // none
  t.f32_kc = 256;
  t.f32_mc = 128;
  t.f32_nc = 4096;

  t.conv_mr = 8;
  t.conv_nr = 8;

  t.s8_mr = 4;
  t.s8_gemm_name = "generic u8s8 4x32";

  t.spmm_nb = 64;  // long inner loops the compiler vectorises (3x faster than 8)
  t.spmv_max_batch = 1;
}

}  // namespace ref
}  // namespace fastnn
