// Stride-1 col2im, one input row: the plain reference, one input pixel and one tap at a time
// (contract: kernel_table.h, f32_col2im_row_fn).
#include <cstdint>

#include "fastnn/conv_params.h"
#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

void f32_col2im_row(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g, int64_t y,
                    float* dx_row) {
  for (int64_t x = 0; x < g.w; ++x) {
    float sum = 0.0f;
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        // Output pixel (oy, ox) read input (y, x) through tap (ki, kj).
        const int64_t oy = y + g.ph - ki * g.dh, ox = x + g.pw - kj * g.dw;
        if (oy >= 0 && oy < g.oh && ox >= 0 && ox < g.ow)
          sum += dcol[(ki * g.kw + kj) * ld + oy * wp + ox];
      }
    dx_row[x] = sum;
  }
}

}  // namespace ref
}  // namespace fastnn
