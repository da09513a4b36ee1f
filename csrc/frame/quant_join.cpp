// Concat and Add on uint8 tensors with requantization (contracts: ops_quant_join.h). ISA-free
// scalar loops the compiler vectorises; the arithmetic is float32 without FMA so that
// tests/reference.py reproduces every byte with numpy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastnn/ops_quant_join.h"
#include "parallel_blocks.h"

namespace fastnn {

namespace {

constexpr int64_t kBlock = 1 << 16;  // bytes of output per parallel block

void check_q(QParamsU8 p, const std::string& name) {
  if (!(std::isfinite(p.scale) && p.scale > 0.0f))
    throw std::invalid_argument(name + ": scale must be finite and > 0, got " +
                                std::to_string(p.scale));
  if (p.zero_point < 0 || p.zero_point > 255)
    throw std::invalid_argument(name + ": zero_point must be in [0, 255], got " +
                                std::to_string(p.zero_point));
}

// s_in / s_out as float32; finite for any two valid scales (kMinScale keeps it in range) --
// checked anyway so that a direct call cannot produce inf * 0.
float multiplier(QParamsU8 in, QParamsU8 out, const std::string& name) {
  const double m = static_cast<double>(in.scale) / static_cast<double>(out.scale);
  if (!(m <= 3.0e38))
    throw std::invalid_argument(name + ": scale / out_scale overflows float32");
  return static_cast<float>(m);
}

// Round half to even without libm (baseline x86-64 has no vector round): clamped first to
// [-1024, 1024] -- the final clamp to [lo, 255] after adding the zero point gives the same byte
// -- then 1.5 * 2^23 added and subtracted (exact for |v| < 2^22, default rounding mode).
inline float round_even(float v) {
  v = std::min(std::max(v, -1024.0f), 1024.0f);
  return (v + 12582912.0f) - 12582912.0f;
}

inline uint8_t saturate(float v, float lo) {
  v = std::min(std::max(v, lo), 255.0f);
  return static_cast<uint8_t>(v);
}

// One row segment: n values requantized with (zin, m) into out, offset by zout.
void requantize_row(const uint8_t* in, int64_t n, float zin, float m, float zout, float lo,
                    uint8_t* out) {
  for (int64_t j = 0; j < n; ++j) {
    const float prod = (static_cast<float>(in[j]) - zin) * m;
    out[j] = saturate(round_even(prod) + zout, lo);
  }
}

}  // namespace

void requantize_concat_u8(const U8Slice* inputs, int64_t n_inputs, int64_t rows, uint8_t* out,
                          QParamsU8 out_q, bool relu) {
  if (n_inputs < 1) throw std::invalid_argument("inputs: expected at least one tensor");
  if (rows < 0) throw std::invalid_argument("rows: negative");
  check_q(out_q, "out");
  int64_t width = 0;
  for (int64_t k = 0; k < n_inputs; ++k) {
    const std::string name = "inputs[" + std::to_string(k) + "]";
    check_q(inputs[k].q, name);
    multiplier(inputs[k].q, out_q, name);
    if (inputs[k].cols < 0) throw std::invalid_argument(name + ": negative width");
    width += inputs[k].cols;
  }
  if (rows == 0 || width == 0) return;
  const float zout = static_cast<float>(out_q.zero_point);
  const float lo = relu ? zout : 0.0f;
  const int64_t rows_per_block = std::max<int64_t>(1, kBlock / width);
  parallel_blocks(rows, rows_per_block, [&](int64_t r0, int64_t r1) {
    int64_t col = 0;
    for (int64_t k = 0; k < n_inputs; ++k) {
      const U8Slice& s = inputs[k];
      const bool same = s.q.scale == out_q.scale && s.q.zero_point == out_q.zero_point;
      const float zin = static_cast<float>(s.q.zero_point);
      const float m = multiplier(s.q, out_q, "inputs");
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* src = s.data + r * s.cols;
        uint8_t* dst = out + r * width + col;
        if (same && !relu)
          std::memcpy(dst, src, static_cast<size_t>(s.cols));
        else
          requantize_row(src, s.cols, zin, m, zout, lo, dst);
      }
      col += s.cols;
    }
  });
}

void add_u8(const uint8_t* a, QParamsU8 qa, const uint8_t* b, QParamsU8 qb, uint8_t* out,
            QParamsU8 out_q, int64_t n, bool relu) {
  if (n < 0) throw std::invalid_argument("a: negative size");
  check_q(qa, "a");
  check_q(qb, "b");
  check_q(out_q, "out");
  const float ma = multiplier(qa, out_q, "a"), mb = multiplier(qb, out_q, "b");
  const float za = static_cast<float>(qa.zero_point), zb = static_cast<float>(qb.zero_point);
  const float zout = static_cast<float>(out_q.zero_point);
  const float lo = relu ? zout : 0.0f;
  parallel_blocks(n, kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float pa = (static_cast<float>(a[i]) - za) * ma;
      const float pb = (static_cast<float>(b[i]) - zb) * mb;
      const float sum = pa + pb;
      out[i] = saturate(round_even(sum) + zout, lo);
    }
  });
}

}  // namespace fastnn
