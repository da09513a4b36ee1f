// col2im for stride-1 convolution in padded-width coordinates (conv2d_parts.h), one body for
// every ISA: included inside namespace fastnn::<isa> after that ISA's `struct Vec` (vec_*.h).
// Gather form: each input element sums its kh*kw contributions in a register and is stored once,
// so no read-modify-write of overlapping, shifted rows (which would stall on store forwarding).
// Lane l of a chunk is input column x0 + l; tap (ki, kj) reads output pixel
// (y + ph - ki*dh, x0 + l + pw - kj*dw), masked where the pixel is outside oh x ow.
// Contract: kernel_table.h (f32_col2im_row_fn).

void f32_col2im_row(const float* dcol, int64_t ld, int64_t wp, const Conv2dGeom& g, int64_t y,
                    float* dx_row) {
  for (int64_t x0 = 0; x0 < g.w; x0 += Vec::kWidth) {
    const Vec::M lanes = Vec::first(g.w - x0);
    Vec::F acc = Vec::zero();
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t oy = y + g.ph - ki * g.dh;
      if (oy < 0 || oy >= g.oh) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t ox0 = x0 + g.pw - kj * g.dw;
        const Vec::M m = Vec::in_range(Vec::addi(Vec::set1i(ox0), Vec::iota()), g.ow, lanes);
        acc = Vec::add(acc, Vec::load(m, dcol + (ki * g.kw + kj) * ld + oy * wp + ox0));
      }
    }
    Vec::store(lanes, dx_row + x0, acc);
  }
}
