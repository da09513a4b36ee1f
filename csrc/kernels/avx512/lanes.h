// Lane masks for the avx512 folder (inline in namespace fastnn::avx512, built with its flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

// GCC 12's AVX-512 intrinsics (_mm512_max_ps, the shuffles) pass _mm512_undefined_ps() as the
// unused merge source, which -W(maybe-)uninitialized reports as a false positive in every file
// that uses them; such files include this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fastnn {
namespace avx512 {

// Lanes [0, n) set (n clamped to [0, 16]).
inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1u);
}

}  // namespace avx512
}  // namespace fastnn
