#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_gemm_ukr_8x8(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m,
                      int64_t n, float alpha, int accumulate);
void f32_pack_panels(const float* src, int64_t s_i, int64_t s_p, int64_t count, int64_t kc, int w,
                    float* dst);
void f32_epilogue(float* c, int64_t ldc, int64_t m, int64_t n, const float* bias,
                  const Epilogue& ep);
void f32_act(const float* x, float* y, int64_t n, const Epilogue& ep);

// [layers: elementwise, losses, dropout]
void f32_act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      const Epilogue& ep);
void f32_selu(const float* x, float* y, int64_t n);
void f32_selu_backward(const float* y, const float* dy, float* dx, int64_t n);
void f32_gelu(const float* x, float* y, int64_t n);
void f32_vmath(int fn, const float* x, float* y, int64_t n);
void f32_gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
void f32_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols);
void f32_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                               int64_t cols);
void f32_colsum_acc(const float* x, int64_t rows, int64_t cols, int64_t ld, float* ycol);
void f32_dropout(const float* x, float* y, int64_t n, uint64_t key, int64_t offset,
                 uint32_t threshold, float scale);
void f32_xent_forward(const float* x, int64_t rows, int64_t cols, const int64_t* target,
                      const float* w, float eps, float* lse, float* loss);
void f32_xent_backward(const float* x, const float* lse, int64_t rows, int64_t cols,
                       const int64_t* target, const float* w, float w_sum, float eps, float scale,
                       const float* row_scale, float* dx);
double f32_pointwise_loss(const PointwiseLoss& l, const float* x, const float* t, const float* w,
                          int64_t offset, int64_t n, float* out);
void f32_pointwise_loss_backward(const PointwiseLoss& l, const float* x, const float* t,
                                 const float* w, int64_t offset, int64_t n, const float* g,
                                 float scale, float* dx);

// [layers: hardtanh .. softsign, PReLU, log-softmax]
void f32_act_ext(int op, const float* x, float* y, int64_t n, const ActParams& p);
void f32_act_ext_backward(int op, const float* x, const float* dy, float* dx, int64_t n,
                          const ActParams& p);
void f32_prelu_run(const float* x, float* y, int64_t n, float slope);
void f32_prelu_run_backward(const float* x, const float* dy, float* dx, int64_t n, float slope,
                            float* dslope);
void f32_prelu_rows(const float* x, float* y, int64_t rows, int64_t cols, const float* slope);
void f32_prelu_rows_backward(const float* x, const float* dy, float* dx, int64_t rows,
                             int64_t cols, const float* slope, float* dslope);
void f32_log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols);
void f32_log_softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows,
                                   int64_t cols);

// [layers: conv, pool, batchnorm]
void f32_conv_ukr_8x8(int64_t k, const float* a_base, const int64_t* a_off, int64_t a_step,
    const float* b, float* c, int64_t ldc, int64_t m, int64_t n, int accumulate);
void f32_conv_wgrad_ukr_8x8(const float* const* a_rows, int64_t rows, int64_t row_len,
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
void f32_winograd_input(int m, const float* const* rows, int64_t off, int64_t ld, int64_t lanes,
                        float* v, int64_t vs);
void f32_winograd_output(int m, const float* s, int64_t ss, int64_t lanes, float bias,
                         float* const* rows, int64_t off);
void f32_col2im_row(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g, int64_t y,
                    float* dx_row);

// [optim]
void f32_sgd_update(const SgdCoef& c, const OptimSpan& s, int64_t n);
void f32_adagrad_update(const AdagradCoef& c, const OptimSpan& s, int64_t n);
void f32_rmsprop_update(const RmspropCoef& c, const OptimSpan& s, int64_t n);
void f32_adam_update(const AdamCoef& c, const OptimSpan& s, int64_t n);
double f32_sum_sq(const float* x, int64_t n);
double f32_sum_abs(const float* x, int64_t n);
float f32_max_abs(const float* x, int64_t n);
void f32_scale(float* x, int64_t n, float s);
void f32_clamp(float* x, int64_t n, float lo, float hi);
double f32_sum_abs_pow(const float* x, int64_t n, double p);

// [int8 GEMM]
void u8s8_gemm_ukr_4x32(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                        void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep);

void f32_quantize_u8(const float* x, uint8_t* q, int64_t n, float inv_scale, float zp);
void u8_dequantize_f32(const uint8_t* q, float* x, int64_t n, float scale, float zp);
int f32_minmax(const float* x, int64_t n, float* lo, float* hi);
void u8_max_taps(const uint8_t* const* taps, int64_t ntaps, uint8_t* out, int64_t c);
void u8_sum_rows(const uint8_t* x, int64_t rows, int64_t c, int32_t* acc);
void u8_maxpool_row(const uint8_t* const* rows, int64_t nrows, int64_t kw, int64_t sw, int64_t c,
                    int64_t count, uint8_t* out);
void u8_im2col_band(const U8ConvGeom& g, const uint8_t* xp, int64_t xs, int64_t y0, int64_t p0,
                    int64_t count, uint8_t* dst);
void f32_histogram(const float* x, int64_t n, float lo, float inv_width, int64_t bins, int absval,
                   int64_t* hist);

// [sparse / prune]
void f32_spmm_csr(int64_t m, int64_t n, const int64_t* row_ptr, const int32_t* col,
                  const float* val, const float* x, int64_t ldx, const float* bias, float* y,
                  int64_t ldy, const Epilogue& ep);
void f32_spmv_csr(int64_t m, const int64_t* row_ptr, const int32_t* col, const float* val,
                  const float* x, const float* bias, float* y, const Epilogue& ep);
void f32_transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst,
                   int64_t ldd);

void f32_mask_mul(float* x, const float* mask, int64_t n);

void register_kernels(KernelTable& t) {
  t.f32_mr = 8;
  t.f32_nr = 8;
  t.f32_gemm_ukr = f32_gemm_ukr_8x8;
  t.f32_gemm_narrow = F32GemmTile{};  // none
  t.f32_pack_panels = f32_pack_panels;
  t.f32_kc = 256;
  t.f32_mc = 128;
  t.f32_nc = 4096;
  t.f32_epilogue = f32_epilogue;
  t.f32_act = f32_act;
  // [layers: elementwise, losses, dropout]
  t.f32_act_backward = f32_act_backward;
  t.f32_selu = f32_selu;
  t.f32_selu_backward = f32_selu_backward;
  t.f32_gelu = f32_gelu;
  t.f32_vmath = f32_vmath;
  t.f32_gelu_backward = f32_gelu_backward;
  t.f32_softmax_rows = f32_softmax_rows;
  t.f32_softmax_rows_backward = f32_softmax_rows_backward;
  t.f32_colsum_acc = f32_colsum_acc;
  t.f32_dropout = f32_dropout;
  t.f32_xent_forward = f32_xent_forward;
  t.f32_xent_backward = f32_xent_backward;
  t.f32_pointwise_loss = f32_pointwise_loss;
  t.f32_pointwise_loss_backward = f32_pointwise_loss_backward;
  // [layers: hardtanh .. softsign, PReLU, log-softmax]
  t.f32_act_ext = f32_act_ext;
  t.f32_act_ext_backward = f32_act_ext_backward;
  t.f32_prelu_run = f32_prelu_run;
  t.f32_prelu_run_backward = f32_prelu_run_backward;
  t.f32_prelu_rows = f32_prelu_rows;
  t.f32_prelu_rows_backward = f32_prelu_rows_backward;
  t.f32_log_softmax_rows = f32_log_softmax_rows;
  t.f32_log_softmax_rows_backward = f32_log_softmax_rows_backward;

  // [layers: conv, pool, batchnorm]
  t.conv_mr = 8;
  t.conv_nr = 8;
  t.f32_conv_ukr = f32_conv_ukr_8x8;
  t.f32_conv_wgrad_ukr = f32_conv_wgrad_ukr_8x8;
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
  t.f32_winograd_input = f32_winograd_input;
  t.f32_winograd_output = f32_winograd_output;

  // [optim]
  t.f32_sgd_update = f32_sgd_update;
  t.f32_adagrad_update = f32_adagrad_update;
  t.f32_rmsprop_update = f32_rmsprop_update;
  t.f32_adam_update = f32_adam_update;
  t.f32_sum_sq = f32_sum_sq;
  t.f32_sum_abs = f32_sum_abs;
  t.f32_max_abs = f32_max_abs;
  t.f32_scale = f32_scale;
  t.f32_clamp = f32_clamp;
  t.f32_sum_abs_pow = f32_sum_abs_pow;  // general p: reference only

  // [int8 GEMM]
  t.s8_mr = 4;
  t.s8_gemm_ukr = u8s8_gemm_ukr_4x32;
  t.s8_gemm_name = "generic u8s8 4x32";

  t.f32_quantize_u8 = f32_quantize_u8;
  t.u8_dequantize_f32 = u8_dequantize_f32;
  t.f32_minmax = f32_minmax;
  t.u8_max_taps = u8_max_taps;
  t.u8_sum_rows = u8_sum_rows;
  t.u8_maxpool_row = u8_maxpool_row;
  t.u8_im2col_band = u8_im2col_band;
  t.f32_histogram = f32_histogram;  // scatter-bound: the one leaf every table shares

  // [sparse / prune]
  t.spmm_nb = 64;  // long inner loops the compiler vectorises (3x faster than 8)
  t.spmv_max_batch = 1;
  t.f32_spmm = f32_spmm_csr;
  t.f32_spmv = f32_spmv_csr;
  t.f32_transpose = f32_transpose;
  t.f32_mask_mul = f32_mask_mul;

}

}  // namespace ref
}  // namespace fastnn
