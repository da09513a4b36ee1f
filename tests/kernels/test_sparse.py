"""CSR sparse x dense kernels against a float64 dense reference, on every ISA path: sparsity levels,
odd shapes around the vector widths and tiles, empty rows/columns, batch 1, strided inputs, both
layouts (x @ W.T and W @ x), thread-count independence, the format itself."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.prune import SparseLinearWeights
from tests.reference import gemm_tol

# Panel tiles are 64 columns (generic, avx512) or 32 (avx2), in vectors of 16 or 8 lanes; the
# transposes work on 8x8 or 16x16 blocks. Sizes sit on both sides of each.
BATCHES = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129]
ROWS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33]


def random_sparse(rng, rows, cols, sparsity):
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    w[rng.random((rows, cols)) < sparsity] = 0.0
    return w


def max_row_nnz(w):
    return int(np.max(np.count_nonzero(w, axis=1), initial=0))


def check_linear(rng, w, x, bias=True, relu=False):
    s = SparseLinearWeights(w)
    b = rng.standard_normal(w.shape[0]).astype(np.float32) if bias else None
    got = s.linear(x, b, relu=relu)
    want = np.asarray(x, np.float64) @ w.astype(np.float64).T
    if b is not None:
        want = want + b
    if relu:
        want = np.maximum(want, 0.0)
    assert got.dtype == np.float32 and got.shape == (x.shape[0], w.shape[0])
    np.testing.assert_allclose(got, want, rtol=0, atol=gemm_tol(w, x, max(1, max_row_nnz(w)), bias=b))
    return got


def check_matmul(rng, w, x, bias=True, relu=False):
    s = SparseLinearWeights(w)
    b = rng.standard_normal(w.shape[0]).astype(np.float32) if bias else None
    got = s.matmul(x, b, relu=relu)
    want = w.astype(np.float64) @ np.asarray(x, np.float64)
    if b is not None:
        want = want + b[:, None]
    if relu:
        want = np.maximum(want, 0.0)
    assert got.dtype == np.float32 and got.shape == (w.shape[0], x.shape[1])
    np.testing.assert_allclose(got, want, rtol=0, atol=gemm_tol(w, x, max(1, max_row_nnz(w)), bias=b))
    return got


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("batch", [1, 5, 70])
def test_sparsity_levels(isa, rng, sparsity, batch):
    w = random_sparse(rng, 67, 129, sparsity)
    x = rng.standard_normal((batch, 129)).astype(np.float32)
    check_linear(rng, w, x, relu=True)
    check_matmul(rng, w, np.ascontiguousarray(x.T))


@pytest.mark.parametrize("batch", BATCHES)
def test_batch_around_tiles(isa, rng, batch):
    w = random_sparse(rng, 33, 70, 0.8)
    check_linear(rng, w, rng.standard_normal((batch, 70)).astype(np.float32))
    check_matmul(rng, w, rng.standard_normal((70, batch)).astype(np.float32), relu=True)


@pytest.mark.parametrize("rows", ROWS)
def test_rows_around_blocks(isa, rng, rows):
    w = random_sparse(rng, rows, 41, 0.7)
    for batch in (1, 19):
        check_linear(rng, w, rng.standard_normal((batch, 41)).astype(np.float32), relu=True)
    check_matmul(rng, w, rng.standard_normal((41, 19)).astype(np.float32))


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 7), (7, 1), (13, 17), (16, 16), (17, 31),
                                       (63, 127), (5, 300)])
def test_odd_shapes(isa, rng, rows, cols):
    w = random_sparse(rng, rows, cols, 0.6)
    for batch in (1, 3, 66):
        check_linear(rng, w, rng.standard_normal((batch, cols)).astype(np.float32))
        check_matmul(rng, w, rng.standard_normal((cols, batch)).astype(np.float32))


def test_empty_rows_and_columns(isa, rng):
    w = random_sparse(rng, 40, 50, 0.5)
    w[::3] = 0.0          # empty rows: the output is act(bias)
    w[:, 5:20] = 0.0      # empty columns: those inputs are never read
    x = rng.standard_normal((21, 50)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    got = SparseLinearWeights(w).linear(x, b, relu=True)
    np.testing.assert_array_equal(got[:, ::3], np.broadcast_to(np.maximum(b[::3], 0), (21, 14)))
    check_linear(rng, w, x, relu=True)
    check_linear(rng, w, x[:1])
    check_matmul(rng, w, np.ascontiguousarray(x.T))


def test_all_entries_in_one_row(isa, rng, threads):
    # The thread split balances stored entries, not rows: one dense row among empty ones.
    w = np.zeros((300, 200), np.float32)
    w[123] = rng.standard_normal(200)
    fastnn.set_num_threads(2)
    for batch in (1, 40, 300):
        check_linear(rng, w, rng.standard_normal((batch, 200)).astype(np.float32))


def test_no_inputs_no_outputs(isa, rng):
    b = rng.standard_normal(6).astype(np.float32)
    s = SparseLinearWeights(np.zeros((6, 0), np.float32))
    np.testing.assert_array_equal(s.linear(np.zeros((3, 0), np.float32), b), np.tile(b, (3, 1)))
    np.testing.assert_array_equal(s.matmul(np.zeros((0, 4), np.float32), b, relu=True),
                                  np.tile(np.maximum(b, 0)[:, None], (1, 4)))
    s = SparseLinearWeights(np.ones((3, 4), np.float32))
    assert s.linear(np.zeros((0, 4), np.float32)).shape == (0, 3)
    assert s.matmul(np.zeros((4, 0), np.float32)).shape == (3, 0)
    assert SparseLinearWeights(np.zeros((0, 4), np.float32)).linear(np.ones((2, 4))).shape == (2, 0)


def test_strided_and_converted_x(isa, rng):
    w = random_sparse(rng, 29, 45, 0.75)
    base = rng.standard_normal((140, 90))
    for x in (base[::2, ::2].astype(np.float32),          # both strides > 1: generic packing
              np.asfortranarray(base[:70, :45], np.float32),  # samples adjacent: x^T in place/copy
              base[::-1, :45].astype(np.float32)[::-1],   # negative row stride
              base[:1, ::2].astype(np.float32),           # batch 1, strided row
              base[:70, :45]):                            # float64: converted
        check_linear(rng, w, x, relu=True)
    xt = base[:45, :70]
    for x in (xt[:, ::1].astype(np.float32)[:, ::-1], xt.astype(np.float32)[::1, ::2],
              np.asfortranarray(xt, np.float32), xt):
        check_matmul(rng, w, x)


def aligned_panel(rng, rows, cols, ld):
    """A float32 (rows, cols) view, 64-byte aligned, with row stride ld floats."""
    buf = np.empty(rows * ld + 16, np.float32)
    off = (-buf.ctypes.data % 64) // 4
    panel = buf[off:off + rows * ld].reshape(rows, ld)
    panel[:] = rng.standard_normal((rows, ld))
    return panel[:, :cols]


def test_panel_in_place_equals_packed(isa, rng):
    # Row stride 80 floats (5 lines, aligned): used in place; 128 (a power of two) and a contiguous
    # copy: packed. Same kernel, same summation order: identical bits.
    w = random_sparse(rng, 64, 288, 0.9)
    s = SparseLinearWeights(w)
    for cols in (1, 70, 80):
        x_in_place = aligned_panel(rng, 288, cols, 80)
        x_packed = np.array(x_in_place, order="C")
        x_strided = aligned_panel(rng, 288, cols, 128)
        x_strided[:] = x_in_place
        got = check_matmul(rng, w, x_in_place, bias=False)
        np.testing.assert_array_equal(s.matmul(x_packed), got)
        np.testing.assert_array_equal(s.matmul(x_strided), got)
        # The same panel as x^T of a batch: x @ W.T is (W @ x)^T (batch 1 runs the matrix-vector
        # kernel, another summation order).
        if cols > 1:
            np.testing.assert_array_equal(s.linear(x_in_place.T), got.T)


@pytest.mark.parametrize("n", [1, 17, 64, 129, 300])
def test_conv_im2col_shape(isa, rng, n):
    # Output channels x (Cin*kh*kw) = 64 x 288 at 90% zeros times a 288 x pixels matrix.
    w = random_sparse(rng, 64, 288, 0.9)
    check_matmul(rng, w, rng.standard_normal((288, n)).astype(np.float32), relu=True)


def test_relu_and_nan(isa, rng):
    w = random_sparse(rng, 20, 30, 0.5)
    w[:, 7] = 0.0
    w[3, 7] = 1.5
    x = rng.standard_normal((9, 30)).astype(np.float32)
    x[4, 7] = np.nan
    s = SparseLinearWeights(w)
    for batch in (slice(4, 5), slice(0, 9)):
        y = s.linear(x[batch], relu=True)
        row = 4 - (batch.start or 0)
        assert np.isnan(y[row, 3])                      # NaN propagates through the fused ReLU
        assert np.all(np.isfinite(np.delete(y, 3, axis=1)))  # stored zeros are never multiplied
        assert np.all(y[np.isfinite(y)] >= 0)


def test_out_argument(isa, rng):
    w = random_sparse(rng, 12, 20, 0.5)
    s = SparseLinearWeights(w)
    x = rng.standard_normal((7, 20)).astype(np.float32)
    out = np.full((7, 12), np.nan, np.float32)
    assert s.linear(x, out=out) is out
    np.testing.assert_array_equal(out, s.linear(x))
    out2 = np.full((12, 7), np.nan, np.float32)
    assert s.matmul(x.T, out=out2) is out2
    np.testing.assert_array_equal(out2, s.matmul(x.T))


def test_thread_count_does_not_change_bits(isa, rng, threads):
    w = random_sparse(rng, 256, 300, 0.9)
    b = rng.standard_normal(256).astype(np.float32)
    s = SparseLinearWeights(w)
    cases = [("linear", rng.standard_normal((n, 300)).astype(np.float32)) for n in (1, 40, 130, 260)]
    cases += [("matmul", rng.standard_normal((300, n)).astype(np.float32)) for n in (40, 300, 600)]
    for kind, x in cases:
        results = []
        for nt in (1, 2):
            fastnn.set_num_threads(nt)
            results.append(getattr(s, kind)(x, b, relu=True))
        np.testing.assert_array_equal(results[0], results[1])


# ---- the format ----------------------------------------------------------------------------------

def test_format_properties(rng):
    w = random_sparse(rng, 30, 40, 0.8)
    w[2, 3] = -0.0
    s = SparseLinearWeights(w)
    nnz = int(np.count_nonzero(w))
    assert s.shape == (30, 40) and s.nnz == nnz
    assert s.sparsity == pytest.approx(1 - nnz / 1200)
    assert s.nbytes == 8 * nnz + 8 * 31 and s.dense_nbytes == 4 * 1200
    np.testing.assert_array_equal(s.to_dense(), w)
    row_ptr, col_idx, values = s.csr()
    assert row_ptr.dtype == np.int64 and col_idx.dtype == np.int32 and values.dtype == np.float32
    np.testing.assert_array_equal(np.diff(row_ptr), np.count_nonzero(w, axis=1))
    np.testing.assert_array_equal(values, w[w != 0])
    assert SparseLinearWeights.from_csr(s.shape, row_ptr, col_idx, values) == s
    assert "nnz=" in repr(s)
    assert SparseLinearWeights(np.zeros((0, 0), np.float32)).sparsity == 0.0


def test_threshold_and_nan_kept():
    w = np.array([[0.5, -0.1, 0.0, np.nan], [0.2, -0.3, 1e-30, -0.0]], np.float32)
    np.testing.assert_array_equal(SparseLinearWeights(w).to_dense(), w)  # only exact zeros dropped
    s = SparseLinearWeights(w, threshold=0.2)  # |w| <= 0.2 dropped; NaN is never dropped
    assert s.nnz == 3
    np.testing.assert_array_equal(s.to_dense(),
                                  np.array([[0.5, 0, 0, np.nan], [0, -0.3, 0, 0]], np.float32))
    assert SparseLinearWeights(w, threshold=np.inf).nnz == 1


def test_from_dense_strided_and_float64(rng):
    w = rng.standard_normal((20, 30))
    w[np.abs(w) < 1] = 0
    np.testing.assert_array_equal(SparseLinearWeights(w[::2, ::-3]).to_dense(),
                                  w[::2, ::-3].astype(np.float32))


@pytest.mark.parametrize("row_ptr,col_idx,values,match", [
    ([0, 1], [0], [1.0], r"row_ptr: expected shape \(3,\), got \(2,\)"),
    ([1, 1, 1], [0], [1.0], "row_ptr: expected to start at 0"),
    ([0, 1, 3], [0, 1], [1.0, 2.0], "end at nnz = 2"),
    ([0, 2, 1], [0], [1.0], "row_ptr: decreases at row 1"),  # checked before col is read
    ([0, 1, 2], [0, 4], [1.0, 2.0], r"col_idx: entry 1 of row 1 is 4, expected in \[0, 4\)"),
    ([0, 1, 2], [0, -1], [1.0, 2.0], "col_idx: entry 1 of row 1 is -1"),
    ([0, 2, 2], [1, 1], [1.0, 2.0], "col_idx: not strictly increasing in row 0"),
    ([0, 2, 2], [2, 1], [1.0, 2.0], "col_idx: not strictly increasing in row 0"),
    ([0, 1, 2], [0, 1, 2], [1.0, 2.0], r"col_idx: expected the shape of values \(2,\)"),
    ([0, 1, 2], [0, 2**40], [1.0, 2.0], "col_idx: entry 1 = .* out of range"),
])
def test_from_csr_rejects(row_ptr, col_idx, values, match):
    with pytest.raises(ValueError, match=match):
        SparseLinearWeights.from_csr((2, 4), np.array(row_ptr), np.array(col_idx), np.array(values))


def test_from_csr_rejects_types():
    with pytest.raises(TypeError, match="row_ptr: expected an integer array"):
        SparseLinearWeights.from_csr((1, 2), np.array([0.0, 1.0]), np.array([0]), np.array([1.0]))
    with pytest.raises(TypeError, match="values: expected a float array"):
        SparseLinearWeights.from_csr((1, 2), np.array([0, 1]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="shape: negative"):
        SparseLinearWeights.from_csr((-1, 2), np.array([0]), np.array([], np.int32), np.array([]))
    with pytest.raises(ValueError, match="col_idx: expected a 1-D array"):
        SparseLinearWeights.from_csr((1, 2), np.array([0, 1]), np.array([[0]]), np.array([1.0]))


# ---- bad input -------------------------------------------------------------------------------------

def f32(*shape):
    return np.ones(shape, np.float32)


def test_bad_weight():
    with pytest.raises(ValueError, match=r"weight: expected a 2-D array, got shape \(3,\)"):
        SparseLinearWeights(f32(3))
    with pytest.raises(ValueError, match="weight: expected a 2-D array"):
        SparseLinearWeights(f32(2, 3, 4))
    with pytest.raises(TypeError, match="weight"):
        SparseLinearWeights(np.ones((2, 3), np.int32))
    with pytest.raises(TypeError, match="weight"):
        SparseLinearWeights(None)
    for bad in (-0.5, np.nan):
        with pytest.raises(ValueError, match="threshold: expected a number >= 0"):
            SparseLinearWeights(f32(2, 2), threshold=bad)
    with pytest.raises(TypeError):
        _C.SparseMatrix()  # opaque: built only by from_dense / from_csr


def test_bad_x_bias_out():
    s = SparseLinearWeights(f32(4, 3))
    with pytest.raises(ValueError, match=r"x: expected shape \(\*, 3\), got \(5, 4\)"):
        s.linear(f32(5, 4))
    with pytest.raises(ValueError, match=r"x: expected shape \(3, \*\), got \(4, 5\)"):
        s.matmul(f32(4, 5))
    with pytest.raises(ValueError, match=r"x: expected a 2-D array, got shape \(3,\)"):
        s.linear(f32(3))
    for bad in (np.ones((2, 3), np.int64), np.ones((2, 3), np.complex64), None, "x"):
        with pytest.raises(TypeError, match="x"):
            s.linear(bad)
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\), got \(3,\)"):
        s.linear(f32(2, 3), f32(3))
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\), got \(1, 4\)"):
        s.matmul(f32(3, 2), f32(1, 4))
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 4\), got \(4, 2\)"):
        s.linear(f32(2, 3), out=f32(4, 2))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        s.linear(f32(2, 3), out=np.ones((2, 4)))
    with pytest.raises(ValueError, match="out: expected a C-contiguous array"):
        s.linear(f32(2, 3), out=f32(4, 2).T)
    ro = f32(2, 4)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="out: array is read-only"):
        s.linear(f32(2, 3), out=ro)


def test_out_overlapping_inputs_rejected_and_untouched():
    s = SparseLinearWeights(f32(3, 3))
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    keep = x.copy()
    with pytest.raises(ValueError, match="out: must not share memory with x or bias"):
        s.linear(x, out=x)
    with pytest.raises(ValueError, match="out: must not share memory"):
        s.matmul(x, bias=x[0], out=x)
    np.testing.assert_array_equal(x, keep)
