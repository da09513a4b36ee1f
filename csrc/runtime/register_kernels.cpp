// Each ISA folder's registration, in one portable translation unit: registering is declaring the
// folder's kernels (its kernels.inc, through kernels/register_body.h) and storing function
// pointers and tile sizes into the table, no SIMD, so nothing here needs the folder's flags.
// dispatch.cpp calls ref, then avx2, then avx512 on the same table: a slot an ISA leaves out
// keeps the kernel of the ISA below.
#include "fastnn/kernel_table.h"

namespace fastnn {

namespace ref {
#define FASTNN_KERNELS_INC "ref/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::generic
#include "../kernels/register_body.h"

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  // f32 tile, f32 kc/mc/nc, conv tile, spmm_nb (64: long inner loops the compiler vectorises,
  // 3x faster than 8), spmv_max_batch; no narrow f32 tile
  set_blocking(t, {8, 8, 256, 128, 4096, 8, 8, 64, 1});
  t.f32_gemm_narrow = F32GemmTile{};
  t.s8_mr = 4;
  t.s8_gemm_name = "generic u8s8 4x32";
  t.bf16_gemm = F32GemmTile{8, 8, bf16_gemm_ukr_8x8};  // AVX2 keeps it (bf16 is emulated there)
  t.bf16_gemm_name = "generic bf16 8x8 (emulated; AVX2 keeps it)";
}
}  // namespace ref

#ifdef FASTNN_BUILT_AVX2
namespace avx2 {
#define FASTNN_KERNELS_INC "avx2/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::avx2
#include "../kernels/register_body.h"

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  set_blocking(t, {6, 16, 256, 168, 4080, 6, 16, 32, 1});  // as ref's, above
  t.f32_gemm_narrow = F32GemmTile{};  // none: 16 lanes are narrow enough
  t.s8_mr = 2;
  t.s8_gemm_name = "avx2 u8s8 2x32 (int16 vpmaddwd)";
}
}  // namespace avx2
#endif

#ifdef FASTNN_BUILT_AVX512
namespace avx512 {
#define FASTNN_KERNELS_INC "avx512/kernels.inc"
#define FASTNN_KERNELS_ISA Isa::avx512
#include "../kernels/register_body.h"

void f32_gemm_ukr_28x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate);
FASTNN_DECLARE_KERNEL(s8_gemm_ukr, u8s8_gemm_ukr_14x32_vnni)  // only where VNNI is usable

void register_kernels(KernelTable& t) {
  fill_kernels(t);
  set_blocking(t, {14, 32, 512, 336, 4096, 14, 32, 64, 1});  // as ref's, above
  t.f32_gemm_narrow = F32GemmTile{28, 16, f32_gemm_ukr_28x16};
  // VNNI is not implied by AVX-512F/BW: without it the AVX2 int8 kernel registered before stays.
  if (s8_vnni_usable()) {
    t.s8_mr = 14;
    FASTNN_FILL_KERNEL(t, Isa::avx512, s8_gemm_ukr, u8s8_gemm_ukr_14x32_vnni)
    t.s8_gemm_name = "avx512_vnni u8s8 14x32";
  }
#ifdef FASTNN_BUILT_BF16
  if (bf16_native_usable()) {
    t.bf16_gemm = F32GemmTile{14, 32, bf16_gemm_ukr_14x32};
    t.bf16_gemm_name = "avx512_bf16 14x32 (vdpbf16ps)";
  } else
#endif
  {
    t.bf16_gemm = F32GemmTile{12, 32, bf16_gemm_ukr_12x32_emu};
    t.bf16_gemm_name = "avx512 bf16 12x32 (emulated)";
  }
}
}  // namespace avx512
#endif

}  // namespace fastnn
