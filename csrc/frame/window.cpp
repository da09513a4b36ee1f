// Window geometry shared by every convolution and pooling (float, transposed, quantized, sparse):
// range checks on the hyper-parameters and overflow-checked output extents (contract: ops.h).
#include <stdexcept>
#include <string>

#include "fastnn/conv_params.h"
#include "fastnn/ops.h"

namespace fastnn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// a * b (sym '*') or a + b (sym '+'); std::invalid_argument naming `what` when it overflows int64.
int64_t checked(int64_t a, char sym, int64_t b, const char* op, const char* what) {
  int64_t r = 0;
  if (sym == '*' ? __builtin_mul_overflow(a, b, &r) : __builtin_add_overflow(a, b, &r))
    throw std::invalid_argument(std::string(op) + ": " + what + " overflows int64 (" + str(a) +
                                " " + sym + " " + str(b) + ")");
  return r;
}

int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  return checked(a, '*', b, op, what);
}

int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  return checked(a, '+', b, op, what);
}

}  // namespace

void check_window_param(int64_t v, int64_t lo, const char* op, const char* name) {
  if (v < lo || v > kMaxWindowParam)
    throw std::invalid_argument(std::string(op) + ": " + name + " must be in [" + str(lo) + ", " +
                                str(kMaxWindowParam) + "], got " + str(v));
}

int64_t window_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                   const char* op) {
  check_window_param(kernel, 1, op, "kernel_size");
  check_window_param(stride, 1, op, "stride");
  check_window_param(padding, 0, op, "padding");
  check_window_param(dilation, 1, op, "dilation");
  if (size < 0) throw std::invalid_argument(std::string(op) + ": negative input size " + str(size));
  const int64_t span = checked_mul(dilation, kernel - 1, op, "dilation * (kernel_size - 1)") + 1;
  const int64_t padded =
      checked_add(size, checked_mul(2, padding, op, "2 * padding"), op, "input size + 2 * padding");
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

int64_t pool_window_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                        int64_t dilation, bool ceil_mode, const char* op) {
  const int64_t floor_out = window_out(size, kernel, stride, padding, dilation, op);  // checks
  if (!ceil_mode || floor_out == 0) return floor_out;
  const int64_t span = dilation * (kernel - 1) + 1, padded = size + 2 * padding;  // checked above
  int64_t out = (padded - span + stride - 1) / stride + 1;
  if ((out - 1) * stride >= size + padding) --out;
  return out;
}

int64_t transposed_out(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation, int64_t output_padding, const char* op) {
  check_window_param(kernel, 1, op, "kernel_size");
  check_window_param(stride, 1, op, "stride");
  check_window_param(padding, 0, op, "padding");
  check_window_param(dilation, 1, op, "dilation");
  check_window_param(output_padding, 0, op, "output_padding");
  if (output_padding >= stride && output_padding >= dilation)
    throw std::invalid_argument(std::string(op) + ": output_padding must be smaller than stride or "
                                "dilation, got output_padding " + str(output_padding) +
                                ", stride " + str(stride) + ", dilation " + str(dilation));
  if (size < 1) throw std::invalid_argument(std::string(op) + ": input size must be >= 1, got " + str(size));
  int64_t out = checked_mul(size - 1, stride, op, "(input size - 1) * stride");
  out = checked_add(out, checked_mul(dilation, kernel - 1, op, "dilation * (kernel_size - 1)"), op,
                    "the output size");
  out = checked_add(out, output_padding + 1, op, "the output size");
  return out - 2 * padding;  // padding <= 2**31 - 1: no overflow from a non-negative `out`
}

std::array<int64_t, 2> Window2d::out_size(int64_t h, int64_t w, const char* op,
                                          bool ceil_mode) const {
  return {pool_window_out(h, kh, sh, ph, dh, ceil_mode, op),
          pool_window_out(w, kw, sw, pw, dw, ceil_mode, op)};
}

}  // namespace fastnn
