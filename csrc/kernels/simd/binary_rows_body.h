// The plane sums of the binary / ternary kernels (contract: fastnn/binary.h, PlaneSumFn), one body
// for the vector ISAs: included once inside namespace fastnn::binary::<isa> after that ISA's
// `struct PlaneStep`:
//   F, kStep             the accumulator vector and the elements it covers per k step;
//   zero(), hsum(F)      an empty accumulator, the sum of its lanes;
//   step<R>(acc, x, K, left, nbits, pbits, binary)
//                        acc[r] += the kStep elements x[r * K + l] (l < left of them lie inside
//                        the row) times +1 at bit l of pbits (binary: at every bit not in nbits),
//                        -1 at bit l of nbits, 0 elsewhere.
// R rows of x go against each plane row n, so each bit word is read once per R rows.

template <int R>
inline void plane_rows_block(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t n0,
                             int64_t n1, int64_t K, float* out, int64_t ldo) {
  const int64_t W = (K + 63) / 64;
  for (int64_t n = n0; n < n1; ++n) {
    const uint64_t* nw = neg + n * W;
    const uint64_t* pw = pos ? pos + n * W : nullptr;
    typename PlaneStep::F acc[R];
    for (int r = 0; r < R; ++r) acc[r] = PlaneStep::zero();
    for (int64_t k = 0; k < K; k += PlaneStep::kStep) {
      const int sh = static_cast<int>(k % 64);
      const uint64_t nbits = nw[k / 64] >> sh, pbits = pw ? pw[k / 64] >> sh : 0;
      PlaneStep::template step<R>(acc, x + k, K, K - k, nbits, pbits, pw == nullptr);
    }
    for (int r = 0; r < R; ++r) out[r * ldo + n] = PlaneStep::hsum(acc[r]);
  }
}

// The leaf itself (the same name in every ISA namespace): blocks of 8, 4, then single rows.
void plane_sums(const float* x, const uint64_t* pos, const uint64_t* neg, int64_t M, int64_t n0,
                int64_t n1, int64_t K, float* out, int64_t ldo) {
  int64_t m = 0;
  for (; m + 8 <= M; m += 8)
    plane_rows_block<8>(x + m * K, pos, neg, n0, n1, K, out + m * ldo, ldo);
  for (; m + 4 <= M; m += 4)
    plane_rows_block<4>(x + m * K, pos, neg, n0, n1, K, out + m * ldo, ldo);
  for (; m < M; ++m) plane_rows_block<1>(x + m * K, pos, neg, n0, n1, K, out + m * ldo, ldo);
}
