#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx2 {

// The kernels this ISA provides (kernels.inc: one K(slot, symbol) line per slot), declared,
// and fill_kernels(t).
#define FASTNN_KERNELS_INC "avx2/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::avx2
#include "../register_body.h"

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  t.f32_mr = 6;
  t.f32_nr = 16;
  t.f32_gemm_narrow = F32GemmTile{};  // none: 16 lanes are narrow enough
  t.f32_kc = 256;
  t.f32_mc = 168;
  t.f32_nc = 4080;

  t.conv_mr = 6;
  t.conv_nr = 16;

  t.s8_mr = 2;
  t.s8_gemm_name = "avx2 u8s8 2x32 (int16 vpmaddwd)";

  t.spmm_nb = 32;
  t.spmv_max_batch = 1;
}

}  // namespace avx2
}  // namespace fastnn
