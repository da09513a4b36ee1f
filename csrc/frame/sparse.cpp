// Sparse (CSR) weights: construction from dense or from arrays, the argument checks, and the
// OpenMP driver of the CSR x dense kernels (kernel_table.h, f32_spmm_fn / f32_spmv_fn).
//
// Threads split the output rows (never the reduction), so each output is summed in one fixed
// order whatever the thread count: results are bitwise independent of it. The split balances
// stored entries plus a per-row overhead, not rows: pruned layers have very uneven rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "gemm_driver.h"  // aligned_alloc_array

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastnn {

namespace {

// Cost of one output row (setup, epilogue, store) in units of one stored entry.
constexpr int64_t kRowCost = 4;
// Below this many entry x column products per thread, extra threads cost more than they save.
constexpr int64_t kMinWorkPerThread = 32 * 1024;

std::string dims(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

// First row of share `part` of `parts`, balancing row_ptr[r] + kRowCost * r.
int64_t split_row(const CsrView& w, int64_t part, int parts) {
  if (part <= 0) return 0;
  if (part >= parts) return w.rows;
  const double total = static_cast<double>(w.nnz() + kRowCost * w.rows);
  const double target = total * static_cast<double>(part) / parts;
  int64_t lo = 0, hi = w.rows;  // smallest r with cost(r) >= target
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (static_cast<double>(w.row_ptr[mid] + kRowCost * mid) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

int threads_for(const CsrView& w, int64_t n) {
  const double work = static_cast<double>(w.nnz() + kRowCost * w.rows) * static_cast<double>(n);
  const int64_t want = static_cast<int64_t>(work / kMinWorkPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), want)));
}

void check_csr(const CsrView& w) {
  if (w.rows < 0 || w.cols < 0)
    throw std::invalid_argument("weight: negative shape " + dims(w.rows, w.cols));
  if (!w.row_ptr) throw std::invalid_argument("weight: row offsets are null");
  if (w.nnz() > 0 && (!w.col || !w.val)) throw std::invalid_argument("weight: entries are null");
}

void check_ep(const Epilogue& ep) {
  const int a = static_cast<int>(ep.act);
  if (a < 0 || a > static_cast<int>(Act::tanh))
    throw std::invalid_argument("activation: unknown code " + std::to_string(a));
}

// The kernel fuses none/relu; any other activation runs over the finished outputs.
bool fused(const Epilogue& ep) { return ep.act == Act::none || ep.act == Act::relu; }

// dst[i * ldd + j] = x(j, i) for i in [i0, i1), j < nj: the transpose of a strided view, so the
// samples of one input become a contiguous panel row. Blocked so both sides stay in cache.
void pack_transposed(const MatView& x, int64_t i0, int64_t i1, int64_t nj, float* dst,
                     int64_t ldd) {
  constexpr int64_t kBlock = 16;
  for (int64_t ib = i0; ib < i1; ib += kBlock) {
    const int64_t ie = std::min(i1, ib + kBlock);
    for (int64_t j = 0; j < nj; ++j) {
      const float* src = x.data + j * x.rs;
      for (int64_t i = ib; i < ie; ++i) dst[i * ldd + j] = src[i * x.cs];
    }
  }
}

// dst[i * ldd + j] = x(i, j): a strided view copied into a contiguous panel.
void pack_rows(const MatView& x, int64_t i0, int64_t i1, int64_t nj, float* dst, int64_t ldd) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = 0; j < nj; ++j) dst[i * ldd + j] = x.data[i * x.rs + j * x.cs];
}

// Runs the panel kernel over a K x n panel, threads splitting the rows. With `in_place` the panel
// is (panel, ldx) as given; otherwise `pack(i0, i1, dst, ldd)` fills rows [i0, i1) of a buffer.
template <class Pack>
void run_panel(const CsrView& w, int64_t n, bool in_place, const float* panel, int64_t ldx,
               const Pack& pack, const float* bias, const Epilogue& ep, float* y, int64_t ldy,
               int trans_y) {
  const KernelTable& t = kernels();
  const int nt = threads_for(w, n);
  aligned_ptr<float> buf;
  if (!in_place) {
    // Rows start on a 64-byte line, an odd number of lines apart: a power-of-two row stride would
    // map the rows the kernel visits onto a few cache sets.
    ldx = (n + 15) / 16 * 16;
    if ((ldx / 16) % 2 == 0) ldx += 16;
    buf = aligned_alloc_array<float>(static_cast<size_t>(w.cols * ldx));
  }
  const Epilogue kernel_ep = fused(ep) ? ep : Epilogue{};
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
    const int tid = 0, nthr = 1;
#endif
    const float* x = panel;
    if (!in_place) {
      // Packed cooperatively in blocks of input rows; the implicit barrier ends the packing.
      constexpr int64_t kRows = 32;
#pragma omp for schedule(static)
      for (int64_t i0 = 0; i0 < w.cols; i0 += kRows) pack(i0, std::min(w.cols, i0 + kRows), buf.get(), ldx);
      x = buf.get();
    }
    const int64_t r0 = split_row(w, tid, nthr), r1 = split_row(w, tid + 1, nthr);
    if (r1 > r0) {
      float* yr = y + (trans_y ? r0 : r0 * ldy);
      t.f32_spmm(r1 - r0, n, w.row_ptr + r0, w.col, w.val, x, ldx, bias ? bias + r0 : nullptr, yr,
                 ldy, trans_y, kernel_ep);
      if (!fused(ep)) {
        if (trans_y) for (int64_t j = 0; j < n; ++j) t.f32_act(yr + j * ldy, yr + j * ldy, r1 - r0, ep);
        else for (int64_t o = r0; o < r1; ++o) t.f32_act(y + o * ldy, y + o * ldy, n, ep);
      }
    }
  }
}

}  // namespace

int64_t CsrMatrix::nbytes() const {
  return nnz() * static_cast<int64_t>(sizeof(float) + sizeof(int32_t)) +
         static_cast<int64_t>(row_ptr.size() * sizeof(int64_t));
}

CsrView CsrMatrix::view() const { return {rows, cols, row_ptr.data(), col.data(), val.data()}; }

CsrMatrix csr_from_dense(const MatView& w, float threshold) {
  if (!(threshold >= 0.0f))
    throw std::invalid_argument("threshold: expected a value >= 0, got " + std::to_string(threshold));
  if (w.rows < 0 || w.cols < 0) throw std::invalid_argument("weight: negative shape " + dims(w.rows, w.cols));
  if (w.cols > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("weight: at most 2^31-1 columns, got shape " + dims(w.rows, w.cols));
  if (!w.data && w.rows * w.cols > 0) throw std::invalid_argument("weight: data is null");
  // |v| <= threshold is false for NaN: a NaN weight is kept, never silently dropped.
  auto kept = [threshold](float v) { return !(std::fabs(v) <= threshold); };
  CsrMatrix m;
  m.rows = w.rows;
  m.cols = w.cols;
  m.row_ptr.assign(static_cast<size_t>(w.rows + 1), 0);
  for (int64_t r = 0; r < w.rows; ++r) {
    int64_t count = 0;
    for (int64_t c = 0; c < w.cols; ++c) count += kept(w.data[r * w.rs + c * w.cs]);
    m.row_ptr[r + 1] = m.row_ptr[r] + count;
  }
  m.col.resize(static_cast<size_t>(m.row_ptr[w.rows]));
  m.val.resize(static_cast<size_t>(m.row_ptr[w.rows]));
  for (int64_t r = 0; r < w.rows; ++r) {
    int64_t p = m.row_ptr[r];
    for (int64_t c = 0; c < w.cols; ++c) {
      const float v = w.data[r * w.rs + c * w.cs];
      if (kept(v)) {
        m.col[p] = static_cast<int32_t>(c);
        m.val[p] = v;
        ++p;
      }
    }
  }
  return m;
}

CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, std::vector<int64_t> row_ptr,
                          std::vector<int32_t> col, std::vector<float> val) {
  if (rows < 0 || cols < 0) throw std::invalid_argument("shape: negative " + dims(rows, cols));
  if (cols > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("shape: at most 2^31-1 columns, got " + dims(rows, cols));
  if (static_cast<int64_t>(row_ptr.size()) != rows + 1)
    throw std::invalid_argument("row_ptr: expected shape (" + std::to_string(rows + 1) +
                                ",), got (" + std::to_string(row_ptr.size()) + ",)");
  if (col.size() != val.size())
    throw std::invalid_argument("col_idx: expected the shape of values (" +
                                std::to_string(val.size()) + ",), got (" +
                                std::to_string(col.size()) + ",)");
  const int64_t nnz = static_cast<int64_t>(val.size());
  if (row_ptr[0] != 0 || row_ptr[rows] != nnz)
    throw std::invalid_argument("row_ptr: expected to start at 0 and end at nnz = " +
                                std::to_string(nnz) + ", got " + std::to_string(row_ptr[0]) +
                                " ... " + std::to_string(row_ptr[rows]));
  for (int64_t r = 0; r < rows; ++r) {
    if (row_ptr[r + 1] < row_ptr[r])
      throw std::invalid_argument("row_ptr: decreases at row " + std::to_string(r));
    for (int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) {
      if (col[p] < 0 || col[p] >= cols)
        throw std::invalid_argument("col_idx: entry " + std::to_string(p) + " of row " +
                                    std::to_string(r) + " is " + std::to_string(col[p]) +
                                    ", expected in [0, " + std::to_string(cols) + ")");
      if (p > row_ptr[r] && col[p] <= col[p - 1])
        throw std::invalid_argument("col_idx: not strictly increasing in row " + std::to_string(r));
    }
  }
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr = std::move(row_ptr);
  m.col = std::move(col);
  m.val = std::move(val);
  return m;
}

void csr_to_dense(const CsrView& w, float* out, int64_t ld) {
  check_csr(w);
  if (ld < w.cols) throw std::invalid_argument("csr_to_dense: ld < cols");
  if (!out && w.rows * w.cols > 0) throw std::invalid_argument("csr_to_dense: out is null");
  for (int64_t r = 0; r < w.rows; ++r) {
    std::fill(out + r * ld, out + r * ld + w.cols, 0.0f);
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) out[r * ld + w.col[p]] = w.val[p];
  }
}

void sparse_linear(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy) {
  check_csr(w);
  check_ep(ep);
  if (x.rows < 0 || x.cols != w.cols)
    throw std::invalid_argument("x: expected shape (*, " + std::to_string(w.cols) + "), got " +
                                dims(x.rows, x.cols));
  if (!x.data && x.rows * x.cols > 0) throw std::invalid_argument("x: data is null");
  if (!y && x.rows * w.rows > 0) throw std::invalid_argument("out: data is null");
  if (ldy < w.rows) throw std::invalid_argument("out: row stride < " + std::to_string(w.rows));
  const int64_t batch = x.rows;
  if (batch == 0 || w.rows == 0) return;
  const KernelTable& t = kernels();
  if (batch <= t.spmv_max_batch) {
    // One sample at a time: f32_spmv gathers from a contiguous input row.
    const int nt = threads_for(w, batch);
    aligned_ptr<float> xbuf;
    if (x.cs != 1 && w.cols > 0) xbuf = aligned_alloc_array<float>(static_cast<size_t>(w.cols));
    const Epilogue kernel_ep = fused(ep) ? ep : Epilogue{};
    for (int64_t b = 0; b < batch; ++b) {
      const float* xb = x.data + b * x.rs;
      if (xbuf) {
        for (int64_t i = 0; i < w.cols; ++i) xbuf[i] = xb[i * x.cs];
        xb = xbuf.get();
      }
      float* yb = y + b * ldy;
#pragma omp parallel num_threads(nt)
      {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
        const int tid = 0, nthr = 1;
#endif
        const int64_t r0 = split_row(w, tid, nthr), r1 = split_row(w, tid + 1, nthr);
        if (r1 > r0) {
          t.f32_spmv(r1 - r0, w.row_ptr + r0, w.col, w.val, xb, bias ? bias + r0 : nullptr,
                     yb + r0, kernel_ep);
          if (!fused(ep)) t.f32_act(yb + r0, yb + r0, r1 - r0, ep);
        }
      }
    }
    return;
  }
  // The panel is X^T (inputs x samples): usable in place when samples are adjacent in memory.
  const bool in_place = x.rs == 1;
  run_panel(w, batch, in_place, x.data, x.cs,
            [&](int64_t i0, int64_t i1, float* dst, int64_t ldd) {
              pack_transposed(x, i0, i1, batch, dst, ldd);
            },
            bias, ep, y, ldy, /*trans_y=*/1);
}

void sparse_matmul(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy) {
  check_csr(w);
  check_ep(ep);
  if (x.cols < 0 || x.rows != w.cols)
    throw std::invalid_argument("x: expected shape (" + std::to_string(w.cols) + ", *), got " +
                                dims(x.rows, x.cols));
  if (!x.data && x.rows * x.cols > 0) throw std::invalid_argument("x: data is null");
  if (!y && w.rows * x.cols > 0) throw std::invalid_argument("out: data is null");
  if (ldy < x.cols) throw std::invalid_argument("out: row stride < " + std::to_string(x.cols));
  const int64_t n = x.cols;
  if (n == 0 || w.rows == 0) return;
  const bool in_place = x.cs == 1;
  run_panel(w, n, in_place, x.data, x.rs,
            [&](int64_t i0, int64_t i1, float* dst, int64_t ldd) { pack_rows(x, i0, i1, n, dst, ldd); },
            bias, ep, y, ldy, /*trans_y=*/0);
}

}  // namespace fastnn
