#include "fastnn/kernel_table.h"

namespace fastnn {
namespace avx512 {

void f32_gemm_ukr_14x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                        int64_t m, int64_t n, float alpha, int accumulate);

// [layers: elementwise, losses, dropout]

// [layers: conv, pool, batchnorm]
void f32_conv_ukr_14x32(int64_t k, const float* a_base, const int64_t* a_off, int64_t a_step,
    const float* b, float* c, int64_t ldc, int64_t m, int64_t n, int accumulate);
void f32_conv_wgrad_ukr_14x32(const float* const* a_rows, int64_t rows, int64_t row_len,
    int64_t a_stride, int64_t a_step, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
    int accumulate);
void f32_maxpool2d_plane(const float* x, float* y, int32_t* argmax, const Pool2dGeom& g);
void f32_avgpool2d_plane(const float* x, float* y, const Pool2dGeom& g);
void f32_avgpool2d_plane_bwd(const float* dy, float* dx, const Pool2dGeom& g);
void f32_dwconv2d_plane(const float* x, const float* w, float bias, float* y, const Conv2dGeom& g);
void f32_dwconv2d_plane_bwd_data(const float* dy, const float* w, float* dx, const Conv2dGeom& g);
void f32_dwconv2d_plane_bwd_weight(const float* x, const float* dy, float* dw, const Conv2dGeom& g);
void f32_row_moments(const float* x, int64_t n, float shift, float* sum, float* sumsq);
void f32_row_affine(const float* x, float* y, int64_t n, float a, float b);
void f32_row_dot2(const float* dy, const float* x, int64_t n, float shift, float* sdy, float* sdyx);
void f32_row_affine2(const float* dy, const float* x, float* dx, int64_t n, float a, float b,
                     float c);
void f32_transpose_rows(const float* const* rows, int64_t nrows, int64_t len, int64_t ld,
                        int64_t width, const float* add, float* dst);
void f32_copy_rows_padded(const float* src, int64_t sld, int64_t n_src, int64_t lead,
                          int64_t rows, float* dst, int64_t dld, int64_t n_dst);
void f32_col2im_row(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g, int64_t y,
                    float* dx_row);

// [optim]

// [int8 GEMM]

// [sparse / prune]

void register_kernels(KernelTable& t) {
  t.f32_mr = 14;
  t.f32_nr = 32;
  t.f32_gemm_ukr = f32_gemm_ukr_14x32;
  // [layers: elementwise, losses, dropout]

  // [layers: conv, pool, batchnorm]
  t.conv_mr = 14;
  t.conv_nr = 32;
  t.f32_conv_ukr = f32_conv_ukr_14x32;
  t.f32_conv_wgrad_ukr = f32_conv_wgrad_ukr_14x32;
  t.f32_maxpool2d_plane = f32_maxpool2d_plane;
  t.f32_avgpool2d_plane = f32_avgpool2d_plane;
  t.f32_avgpool2d_plane_bwd = f32_avgpool2d_plane_bwd;
  t.f32_dwconv2d_plane = f32_dwconv2d_plane;
  t.f32_dwconv2d_plane_bwd_data = f32_dwconv2d_plane_bwd_data;
  t.f32_dwconv2d_plane_bwd_weight = f32_dwconv2d_plane_bwd_weight;
  t.f32_row_moments = f32_row_moments;
  t.f32_row_affine = f32_row_affine;
  t.f32_row_dot2 = f32_row_dot2;
  t.f32_row_affine2 = f32_row_affine2;
  t.f32_transpose_rows = f32_transpose_rows;
  t.f32_col2im_row = f32_col2im_row;
  t.f32_copy_rows_padded = f32_copy_rows_padded;

  // [optim]

  // [int8 GEMM]

  // [sparse / prune]

}

}  // namespace avx512
}  // namespace fastnn
