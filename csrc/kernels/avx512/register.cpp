#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

// The kernels this ISA provides (kernels.inc: one K(slot, symbol) line per slot), declared,
// and fill_kernels(t).
#define FASTNN_KERNELS_INC "avx512/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::avx512
#include "../register_body.h"

// [f32 GEMM]
void f32_gemm_ukr_28x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate);

// [int8 GEMM]
FASTNN_DECLARE_KERNEL(s8_gemm_ukr, u8s8_gemm_ukr_14x32_vnni)  // only where VNNI is usable

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  // f32 tile, f32 kc/mc/nc, conv tile, spmm_nb, spmv_max_batch
  set_blocking(t, {14, 32, 512, 336, 4096, 14, 32, 64, 1});
  t.f32_gemm_narrow = F32GemmTile{28, 16, f32_gemm_ukr_28x16};

  // VNNI is not implied by AVX-512F/BW: without it the AVX2 int8 kernel registered before stays.
  if (s8_vnni_usable()) {
    t.s8_mr = 14;
    FASTNN_FILL_KERNEL(t, Isa::avx512, s8_gemm_ukr, u8s8_gemm_ukr_14x32_vnni)
    t.s8_gemm_name = "avx512_vnni u8s8 14x32";
  }
}

}  // namespace avx512
}  // namespace fastnn
