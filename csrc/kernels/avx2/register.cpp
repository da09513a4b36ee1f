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
  // f32 tile, f32 kc/mc/nc, conv tile, spmm_nb, spmv_max_batch
  set_blocking(t, {6, 16, 256, 168, 4080, 6, 16, 32, 1});
  t.f32_gemm_narrow = F32GemmTile{};  // none: 16 lanes are narrow enough

  t.s8_mr = 2;
  t.s8_gemm_name = "avx2 u8s8 2x32 (int16 vpmaddwd)";
}

}  // namespace avx2
}  // namespace fastnn
