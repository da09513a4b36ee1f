// Portable u8 x s8 -> s32 GEMM micro-kernel (up to 4 rows x one 32-column panel) with the
// requantisation epilogue written out in scalar C++. It is the reference the SIMD kernels must
// match bit for bit (same float32 operations, std::fma for the fused multiply-add).
#include <cmath>
#include <cstring>

#include "fastnn/kernel_table.h"

namespace fastnn {
namespace ref {

constexpr int kMR = 4;

void u8s8_gemm_ukr_4x32(int64_t kg, const uint8_t* a, int64_t a_rs, int64_t a_gs, const int8_t* b,
                        void* c, int64_t ldc, int64_t m, int64_t n, const S8Epilogue& ep) {
  int32_t acc[kMR][kS8NR] = {};
  for (int64_t g = 0; g < kg; ++g) {
    const int8_t* bg = b + g * (kS8NR * kS8KG);
    for (int64_t i = 0; i < m; ++i) {
      const uint8_t* ag = a + i * a_rs + g * a_gs;
      for (int j = 0; j < kS8NR; ++j) {
        const int8_t* bj = bg + j * kS8KG;
        int32_t s = 0;
        for (int q = 0; q < kS8KG; ++q) s += int32_t(ag[q]) * int32_t(bj[q]);
        acc[i][j] += s;
      }
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int32_t v = acc[i][j] + ep.offset[j];
      if (ep.out == S8Out::s32) {
        static_cast<int32_t*>(c)[i * ldc + j] = v;
        continue;
      }
      float y = std::fma(static_cast<float>(v), ep.scale[j], ep.shift[j]);
      if (ep.out == S8Out::f32) {
        if (ep.relu) y = y > 0.0f ? y : 0.0f;
        static_cast<float*>(c)[i * ldc + j] = y;
      } else {
        y = y > ep.lo ? y : ep.lo;
        y = y < ep.hi ? y : ep.hi;
        static_cast<uint8_t*>(c)[i * ldc + j] = static_cast<uint8_t>(std::nearbyint(y));
      }
    }
  }
}

}  // namespace ref
}  // namespace fastnn
