// Scalar traits (one lane) for the portable reference instantiation of the bodies in this folder:
// the same template at width 1, so each formula is written once. Include inside namespace
// fastnn::ref after <cstdint>.
struct Vec {
  static constexpr int kWidth = 1;
  using F = float;
  using I = int64_t;
  using M = bool;

  static F zero() { return 0.0f; }
  static F set1(float v) { return v; }
  static I set1i(int64_t v) { return v; }
  static I iota() { return 0; }
  static I addi(I a, I b) { return a + b; }
  static I muli(I a, int64_t s) { return a * s; }
  static I maxi(I a, I b) { return a > b ? a : b; }

  static M first(int64_t n) { return n > 0; }
  static M all() { return true; }
  static M mand(M a, M b) { return a && b; }
  static M in_range(I cols, int64_t w, M lanes) { return lanes && cols >= 0 && cols < w; }

  static F load(M m, const float* p) { return m ? *p : 0.0f; }
  static F loadu(const float* p) { return *p; }
  static void storeu(float* p, F v) { *p = v; }
  // out[j] = p[0][off + j], j < 8 (the one lane's row).
  static void load_rows8(const float* const* p, int64_t off, F out[8]) {
    for (int j = 0; j < 8; ++j) out[j] = p[0][off + j];
  }
  // The inverse: p[0][off + j] = v[j], j < count.
  static void store_rows(const F* v, int count, float* const* p, int64_t off) {
    for (int j = 0; j < count; ++j) p[0][off + j] = v[j];
  }
  static void store(M m, float* p, F v) { if (m) *p = v; }
  static void storei(M m, int32_t* p, I v) { if (m) *p = static_cast<int32_t>(v); }

  static F add(F a, F b) { return a + b; }
  static F sub(F a, F b) { return a - b; }
  static F mul(F a, F b) { return a * b; }
  static F div(F a, F b) { return a / b; }
  static F fmadd(F a, F b, F c) { return a * b + c; }
  static F max(F a, F b) { return a > b ? a : b; }  // b where either is NaN (as x86)
  static F min(F a, F b) { return a < b ? a : b; }
  static F sqrt(F a) { return __builtin_sqrtf(a); }
  static F abs(F a) { return __builtin_fabsf(a); }
  static F sign(F x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }
  static F nan_flags(F acc, F x) { return x != x ? 1.0f : acc; }
  static bool any_set(F acc) { return acc != 0.0f; }
  static F sub_z(M m, F a, F b) { return m ? a - b : 0.0f; }
  static M gt_or_nan(M m, F v, F best) { return m && (v > best || v != v); }
  static F select(M m, F if_false, F if_true) { return m ? if_true : if_false; }
  static I selecti(M m, I if_false, I if_true) { return m ? if_true : if_false; }
  static float hsum(F v) { return v; }
  static double hsum_d(F v) { return static_cast<double>(v); }
  static float hmax(F v) { return v; }

  static F load_cols(const float* row, int64_t, int64_t, int64_t, I cols, M m) {
    return m ? row[cols] : 0.0f;
  }
  static void add_cols(float* row, int64_t, int64_t, I cols, M m, F v) {
    if (m) row[cols] += v;
  }
};
