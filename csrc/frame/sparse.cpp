// Sparse (CSR) weights: construction from dense or from arrays, the argument checks, and the
// OpenMP driver of the CSR x dense kernels (kernel_table.h, f32_spmm_fn / f32_spmv_fn).
//
// Threads split the output rows or the panel's column tiles (never the reduction), so each output
// is summed in one fixed order whatever the thread count: results are bitwise independent of it.
// A row split balances stored entries plus a per-row overhead, not rows: pruned layers have very
// uneven rows.
#include <algorithm>
#include <cmath>
#include <cstring>
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

// The kernels fuse ReLU; other activations are not offered (a layer applies them separately).
void check_ep(const Epilogue& ep) {
  if (ep.act != Act::none && ep.act != Act::relu)
    throw std::invalid_argument("activation: the sparse kernels fuse only ReLU, got code " +
                                std::to_string(static_cast<int>(ep.act)));
}

// The dense operand of the kernels is a K x n panel P (P = x for W @ x, P = x^T for x @ W^T).
// The kernels read it one tile of nb columns at a time, row i of tile t at
// tile_base(t) + i * ld. A strided view is used in place when its rows are contiguous, 64-byte
// aligned, and an odd number of cache lines apart (a power-of-two stride maps the rows a tile
// visits onto a few cache sets: measured 2x slower); otherwise it is packed tile-major: tile t is
// a contiguous K x nb block, so the rows one tile visits fill the cache evenly.
bool usable_in_place(const MatView& p) {
  return p.cs == 1 && reinterpret_cast<uintptr_t>(p.data) % 64 == 0 && p.rs > 0 && p.rs % 16 == 0 &&
         (p.rs / 16) % 2 == 1;
}

// Rows [i0, i1) of tile t of P into its tile-major block (row stride nb).
void pack_tile(const KernelTable& kt, const MatView& p, int64_t n, int64_t nb, int64_t t,
               int64_t i0, int64_t i1, float* tile) {
  const int64_t j0 = t * nb, nj = std::min(nb, n - j0);
  if (p.cs == 1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(tile + i * nb, p.data + i * p.rs + j0, static_cast<size_t>(nj) * sizeof(float));
  } else if (p.rs == 1) {
    // Columns of P are contiguous (a row-major batch seen as x^T): a transpose.
    kt.f32_transpose(nj, i1 - i0, p.data + j0 * p.cs + i0, p.cs, tile + i0 * nb, nb);
  } else {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < nj; ++j) tile[i * nb + j] = p.data[i * p.rs + (j0 + j) * p.cs];
  }
}

// Grow-only scratch of the calling thread, kept across calls: allocating and faulting in fresh
// buffers per call cost as much as the packing itself. Everything a parallel region uses is taken
// here, before the region (an allocation failure inside one could not be reported). Slots: the
// shared packed panel, the workers' private panel tiles, the workers' output tiles.
enum Slot { kSharedPanel = 0, kPanelTiles = 1, kOutputTiles = 2 };
float* scratch(int64_t count, Slot slot) {
  thread_local aligned_ptr<float> bufs[3];
  thread_local int64_t caps[3] = {0, 0, 0};
  if (caps[slot] < count) {
    bufs[slot].reset();
    bufs[slot] = aligned_alloc_array<float>(static_cast<size_t>(count));
    caps[slot] = count;
  }
  return bufs[slot].get();
}

// One tile of the product: rows [r0, r1) of W times panel tile (row i at x + i*ld, nj columns
// starting at column j0), bias and ReLU applied, stored at its place in Y. Transposed output
// (samples x outputs) is computed into an outputs x samples tile `out` and transposed into place:
// the transpose writes each sample's row in one run, where storing transposed from the kernel
// visits every sample's row for each 16 outputs (measured 5-70% slower, worst for power-of-two
// output widths).
void tile_product(const KernelTable& kt, const CsrView& w, int64_t r0, int64_t r1, int64_t j0,
                  int64_t nj, const float* x, int64_t ld, const float* bias, const Epilogue& ep,
                  float* y, int64_t ldy, float* out) {
  if (r1 <= r0 || nj <= 0) return;
  const float* b = bias ? bias + r0 : nullptr;
  if (!out) {
    kt.f32_spmm(r1 - r0, nj, w.row_ptr + r0, w.col, w.val, x, ld, b, y + r0 * ldy + j0, ldy, ep);
    return;
  }
  kt.f32_spmm(r1 - r0, nj, w.row_ptr + r0, w.col, w.val, x, ld, b, out, nj, ep);
  kt.f32_transpose(r1 - r0, nj, out, nj, y + j0 * ldy + r0, ldy);
}

// Y = W P (trans_y == 0: y[o*ldy + j]) or its transpose (trans_y != 0: y[j*ldy + o]), bias and
// epilogue applied. Two partitions:
//  - by tiles, when there are enough of them to share evenly: each thread packs its own tiles into
//    a private buffer right before using them (hot in L2, no barrier) and runs all rows;
//  - by rows otherwise (small batches): rows balanced by stored entries (split_row), the panel
//    packed cooperatively into a shared buffer first.
void run_panel(const CsrView& w, const MatView& p, const float* bias, const Epilogue& ep, float* y,
               int64_t ldy, int trans_y) {
  const KernelTable& kt = kernels();
  const int64_t k = w.cols, n = p.cols, nb = kt.spmm_nb;
  const int64_t n_tiles = (n + nb - 1) / nb;
  const bool in_place = usable_in_place(p);
  const int nt = threads_for(w, n);
  const bool by_tiles = nt == 1 || n_tiles % nt == 0 || n_tiles >= 4 * nt;
  constexpr int64_t kPackRows = 64;  // input rows per cooperative packing task
  const int64_t row_blocks = (k + kPackRows - 1) / kPackRows;
  const int64_t tile_size = k * nb, out_size = w.rows * nb;
  float* shared = (!in_place && !by_tiles) ? scratch(n_tiles * tile_size, kSharedPanel) : nullptr;
  float* tiles = (!in_place && by_tiles) ? scratch(nt * tile_size, kPanelTiles) : nullptr;
  float* outs = trans_y ? scratch(nt * out_size, kOutputTiles) : nullptr;
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
    const int tid = 0, nthr = 1;
#endif
    float* out = trans_y ? outs + tid * out_size : nullptr;
    if (by_tiles) {
      const int64_t t0 = n_tiles * tid / nthr, t1 = n_tiles * (tid + 1) / nthr;
      float* tile = tiles ? tiles + tid * tile_size : nullptr;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t j0 = t * nb;
        if (!in_place) pack_tile(kt, p, n, nb, t, 0, k, tile);
        tile_product(kt, w, 0, w.rows, j0, std::min(nb, n - j0), in_place ? p.data + j0 : tile,
                     in_place ? p.rs : nb, bias, ep, y, ldy, out);
      }
    } else {
      if (!in_place) {
        // The implicit barrier at the end of the loop publishes the packed panel.
#pragma omp for schedule(static)
        for (int64_t task = 0; task < n_tiles * row_blocks; ++task) {
          const int64_t t = task / row_blocks, i0 = (task % row_blocks) * kPackRows;
          pack_tile(kt, p, n, nb, t, i0, std::min(k, i0 + kPackRows), shared + t * tile_size);
        }
      }
      const int64_t r0 = split_row(w, tid, nthr), r1 = split_row(w, tid + 1, nthr);
      for (int64_t t = 0; t < n_tiles; ++t) {
        const int64_t j0 = t * nb;
        tile_product(kt, w, r0, r1, j0, std::min(nb, n - j0),
                     in_place ? p.data + j0 : shared + t * tile_size, in_place ? p.rs : nb, bias,
                     ep, y, ldy, out);
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
  // (compared as size - 1: rows + 1 overflows for rows = 2**63 - 1)
  if (static_cast<int64_t>(row_ptr.size()) - 1 != rows)
    throw std::invalid_argument(
        "row_ptr: expected shape (" +
        (rows < std::numeric_limits<int64_t>::max() ? std::to_string(rows + 1)
                                                     : std::to_string(rows) + " + 1") +
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
  // Offsets first (they bound every later read of col), then the columns row by row.
  for (int64_t r = 0; r < rows; ++r)
    if (row_ptr[r + 1] < row_ptr[r])
      throw std::invalid_argument("row_ptr: decreases at row " + std::to_string(r));
  for (int64_t r = 0; r < rows; ++r) {
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

namespace {

// The arguments of out = x W^T (x_by_rows: x is (batch, in), out (batch, out)) or out = W x
// (x is (in, n), out (out, n)).
void check_product(const CsrView& w, const MatView& x, const Epilogue& ep, const float* y,
                   int64_t ldy, bool x_by_rows) {
  check_csr(w);
  check_ep(ep);
  const int64_t in = x_by_rows ? x.cols : x.rows, n = x_by_rows ? x.rows : x.cols;
  if (n < 0 || in != w.cols)
    throw std::invalid_argument("x: expected shape " +
                                (x_by_rows ? "(*, " + std::to_string(w.cols) + ")"
                                           : "(" + std::to_string(w.cols) + ", *)") +
                                ", got " + dims(x.rows, x.cols));
  if (!x.data && x.rows * x.cols > 0) throw std::invalid_argument("x: data is null");
  if (!y && n * w.rows > 0) throw std::invalid_argument("out: data is null");
  const int64_t row = x_by_rows ? w.rows : n;
  if (ldy < row) throw std::invalid_argument("out: row stride < " + std::to_string(row));
}

}  // namespace

void sparse_linear(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy) {
  check_product(w, x, ep, y, ldy, /*x_by_rows=*/true);
  const int64_t batch = x.rows;
  if (batch == 0 || w.rows == 0) return;
  const KernelTable& t = kernels();
  if (batch <= t.spmv_max_batch) {
    // One sample at a time (a matrix-vector product): f32_spmv reads a contiguous input row.
    const int nt = threads_for(w, batch);
    aligned_ptr<float> xbuf;
    if (x.cs != 1 && w.cols > 0) xbuf = aligned_alloc_array<float>(static_cast<size_t>(w.cols));
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
                     yb + r0, ep);
        }
      }
    }
    return;
  }
  // The panel is x^T (inputs x samples); the output is stored transposed (samples x outputs).
  MatView p = x;
  std::swap(p.rows, p.cols);
  std::swap(p.rs, p.cs);
  run_panel(w, p, bias, ep, y, ldy, /*trans_y=*/1);
}

void sparse_matmul(const CsrView& w, const MatView& x, const float* bias, const Epilogue& ep,
                   float* y, int64_t ldy) {
  check_product(w, x, ep, y, ldy, /*x_by_rows=*/false);
  const int64_t n = x.cols;
  if (n == 0 || w.rows == 0) return;
  run_panel(w, x, bias, ep, y, ldy, /*trans_y=*/0);
}

}  // namespace fastnn
