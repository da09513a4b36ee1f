"""The registered micro-kernels of each ISA's table called directly on caller-packed panels
(csrc/bindings/bind_ukr.cpp), XNNPACK gemm-microkernel-tester style: k_eq_1 / k_lt_4 / k_eq_4 /
k_gt_4 / k_div_4 around the k loop, m_subtile / n_subtile / n_eq_nr around the register tile,
strided_c (ldc > n, cells past the tile untouched), accumulate (C += alpha * A B) and c_not_read
(C holding NaN is overwritten, never read). Each hook copies its output argument and returns the
copy, so every cell outside the m x n tile must come back exactly as given.

References are plain numpy: integer results compared exactly; float results within
4 * eps * sqrt(k) * max|a| * max|b| (* |alpha|, plus eps * max|C| when C is accumulated into)."""
import numpy as np
import pytest

from fastnn import _C

EPS = float(np.finfo(np.float32).eps)
MARK = -7.0  # the value of every cell a kernel must not write

# (case name, k values): the k loop's edges, XNNPACK's k_eq_kr / k_lt / k_gt / k_div with kr = 1
# (the f32 kernels step k one by one) and an unroll of 4.
F32_K_CASES = [("k_eq_1", [1]), ("k_gt_1", [2, 3]), ("k_lt_4", [1, 2, 3]), ("k_eq_4", [4]),
               ("k_gt_4", [5, 7]), ("k_div_4", [8, 12, 64]), ("k_prime_large", [257])]


def tiles():
    return _C._ukr_tiles()


def f32_tiles():
    t = tiles()
    out = [("main",) + tuple(t["f32_main"])]
    if t["f32_narrow"] is not None:
        out.append(("narrow",) + tuple(t["f32_narrow"]))
    return out


def f32_case(rng, k, mr, nr, m, n, ldc, rows=None, accumulate=False, c_fill=MARK):
    """Packed panels a (k, mr), b (k, nr) and an output c (rows x ldc) of c_fill, its m x n tile
    random when accumulating into it."""
    a = rng.standard_normal((k, mr)).astype(np.float32)
    b = rng.standard_normal((k, nr)).astype(np.float32)
    rows = m if rows is None else rows
    c = np.full((rows, ldc), c_fill, np.float32)
    if accumulate:
        c[:m, :n] = rng.standard_normal((m, n)).astype(np.float32)
    return a, b, c


def check_f32(tile, a, b, c, m, n, alpha=1.0, accumulate=False):
    got = _C._ukr_f32_gemm(a, b, c, m, n, alpha=alpha, accumulate=accumulate, tile=tile)
    k = a.shape[0]
    acc = a[:, :m].astype(np.float64).T @ b[:, :n].astype(np.float64)
    want = c.astype(np.float64).copy()
    want[:m, :n] = alpha * acc + (want[:m, :n] if accumulate else 0.0)
    tol = 4 * EPS * np.sqrt(k) * np.abs(a[:, :m]).max() * np.abs(b[:, :n]).max() * abs(alpha)
    if accumulate:
        tol += 2 * EPS * np.abs(c[:m, :n]).max()
    assert got.shape == c.shape and got.dtype == np.float32
    np.testing.assert_allclose(got[:m, :n], want[:m, :n], rtol=0, atol=tol)
    # Outside the tile: exactly as given (NaN-aware: c_not_read passes NaN there too).
    outside = np.ones(c.shape, bool)
    outside[:m, :n] = False
    np.testing.assert_array_equal(got[outside], c[outside])
    return got


@pytest.mark.parametrize("case,ks", F32_K_CASES, ids=[c for c, _ in F32_K_CASES])
def test_f32_gemm_k(isa, rng, case, ks):
    for tile, mr, nr in f32_tiles():
        for k in ks:
            a, b, c = f32_case(rng, k, mr, nr, mr, nr, nr)
            check_f32(tile, a, b, c, mr, nr)


def test_f32_gemm_n_eq_nr(isa, rng):
    for tile, mr, nr in f32_tiles():
        a, b, c = f32_case(rng, 9, mr, nr, mr, nr, nr)
        check_f32(tile, a, b, c, mr, nr)


def test_f32_gemm_m_subtile(isa, rng):
    for tile, mr, nr in f32_tiles():
        for m in range(1, mr):
            a, b, c = f32_case(rng, 5, mr, nr, m, nr, nr, rows=mr)
            check_f32(tile, a, b, c, m, nr)


def test_f32_gemm_n_subtile(isa, rng):
    for tile, mr, nr in f32_tiles():
        for n in range(1, nr):
            for m in sorted({1, mr}):
                a, b, c = f32_case(rng, 3, mr, nr, m, n, nr, rows=mr)
                check_f32(tile, a, b, c, m, n)


def test_f32_gemm_strided_c(isa, rng):
    for tile, mr, nr in f32_tiles():
        for m, n in sorted({(mr, nr), (1, 1), (max(mr - 1, 1), max(nr - 3, 1))}):
            a, b, c = f32_case(rng, 6, mr, nr, m, n, n + 5, rows=mr + 1)
            check_f32(tile, a, b, c, m, n)


@pytest.mark.parametrize("alpha", [1.0, 0.5, -2.0])
def test_f32_gemm_accumulate(isa, rng, alpha):
    for tile, mr, nr in f32_tiles():
        for m, n, ldc in [(mr, nr, nr), (max(mr - 2, 1), max(nr - 1, 1), nr + 3)]:
            a, b, c = f32_case(rng, 11, mr, nr, m, n, ldc, rows=mr, accumulate=True)
            check_f32(tile, a, b, c, m, n, alpha=alpha, accumulate=True)


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_f32_gemm_c_not_read(isa, rng, alpha):
    # accumulate=False: C may hold NaN; every tile cell must be the product, the rest untouched.
    for tile, mr, nr in f32_tiles():
        for m, n in sorted({(mr, nr), (1, max(nr - 1, 1))}):
            a, b, c = f32_case(rng, 4, mr, nr, m, n, nr + 1, rows=mr, c_fill=np.nan)
            got = check_f32(tile, a, b, c, m, n, alpha=alpha)
            assert np.isfinite(got[:m, :n]).all()


def test_f32_gemm_n_gt_nr_refused(isa, rng):
    # One call covers one register tile: n > nr (XNNPACK's n_gt_nr loops over tiles in the
    # driver, tests/kernels/test_gemm.py) and m > mr are refused, naming the argument.
    tile, mr, nr = f32_tiles()[0]
    a, b, c = f32_case(rng, 2, mr, nr, mr, nr, nr + 1, rows=mr + 1)
    with pytest.raises(ValueError, match="n"):
        _C._ukr_f32_gemm(a, b, c, mr, nr + 1)
    with pytest.raises(ValueError, match="m"):
        _C._ukr_f32_gemm(a, b, c, mr + 1, nr)
    with pytest.raises(ValueError, match="b"):
        _C._ukr_f32_gemm(a, b[:, :-1].copy(), c, mr, nr)
    with pytest.raises(ValueError, match="c"):
        _C._ukr_f32_gemm(a, b, c[:, :nr - 1].copy(), mr, nr)
    with pytest.raises(TypeError, match="a"):
        _C._ukr_f32_gemm(a.astype(np.float64), b, c, mr, nr)


# -- u8 x s8 micro-kernel --------------------------------------------------------------------------
KG = 4  # kS8KG: k grouped by 4 in the packed panel (the kernel's kr)
S8_NR = 32

# (case name, K values); K is padded with zeros to a multiple of 4 the way the driver packs it.
S8_K_CASES = [("k_eq_0", [0]), ("k_lt_4", [1, 2, 3]), ("k_eq_4", [4]), ("k_gt_4", [5, 6, 7]),
              ("k_div_4", [8, 16, 64]), ("k_prime_large", [251])]


def s8_operands(rng, K, m_rows, n):
    kg = -(-K // KG)
    A = rng.integers(0, 256, (m_rows, K), dtype=np.uint8)
    B = rng.integers(-128, 128, (K, n), dtype=np.int8)
    a = np.zeros((m_rows, kg * KG), np.uint8)
    a[:, :K] = A
    bk = np.zeros((kg * KG, S8_NR), np.int8)
    bk[:K, :n] = B
    b = np.ascontiguousarray(bk.reshape(kg, KG, S8_NR).transpose(0, 2, 1))  # b[g, c, q]
    return A, B, a, b


def s8_acc(A, B, m, offset):
    return A[:m].astype(np.int64) @ B.astype(np.int64) + offset.astype(np.int64)


def check_s8_s32(rng, K, m, n, ldc, rows=None):
    A, B, a, b = s8_operands(rng, K, m, n)
    offset = rng.integers(-1000, 1000, n, dtype=np.int32)
    c = np.full((rows or m, ldc), -7, np.int32)
    got = _C._ukr_s8_gemm(a, b, c, m, n, out="s32", offset=offset)
    want = c.copy()
    want[:m, :n] = s8_acc(A, B, m, offset)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case,ks", S8_K_CASES, ids=[c for c, _ in S8_K_CASES])
def test_s8_gemm_k(isa, rng, case, ks):
    mr = tiles()["s8"][0]
    for K in ks:
        check_s8_s32(rng, K, mr, S8_NR, S8_NR)


def test_s8_gemm_n_eq_nr(isa, rng):
    check_s8_s32(rng, 12, tiles()["s8"][0], S8_NR, S8_NR)


def test_s8_gemm_m_subtile(isa, rng):
    mr = tiles()["s8"][0]
    for m in range(1, mr):
        check_s8_s32(rng, 8, m, S8_NR, S8_NR, rows=mr)


def test_s8_gemm_n_subtile(isa, rng):
    mr = tiles()["s8"][0]
    for n in range(1, S8_NR):
        check_s8_s32(rng, 7, 1 if n % 2 else mr, n, S8_NR, rows=mr)


def test_s8_gemm_strided_c(isa, rng):
    mr = tiles()["s8"][0]
    for m, n in sorted({(mr, S8_NR), (1, 1), (max(mr - 1, 1), 17)}):
        check_s8_s32(rng, 9, m, n, n + 7, rows=mr + 2)


def test_s8_gemm_saturating_extremes(isa, rng):
    # All-255 A against all -128 / 127 B at the deepest K of the tests: the int32 sums stay exact.
    mr = tiles()["s8"][0]
    K = 1024
    for bval in (-128, 127):
        A = np.full((mr, K), 255, np.uint8)
        B = np.full((K, S8_NR), bval, np.int8)
        b = np.ascontiguousarray(B.reshape(K // KG, KG, S8_NR).transpose(0, 2, 1))
        c = np.zeros((mr, S8_NR), np.int32)
        got = _C._ukr_s8_gemm(A, b, c, mr, S8_NR, out="s32")
        np.testing.assert_array_equal(got, np.full((mr, S8_NR), 255 * bval * K, np.int32))


def f32_epilogue(acc, scale, shift):
    # fma(float(acc'), scale, shift) rounded once to float32 (the double sum of an exact double
    # product rounds to float32 the same way for these seeded values).
    return (acc.astype(np.float32).astype(np.float64) * scale.astype(np.float64)
            + shift.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("relu", [False, True])
def test_s8_gemm_out_f32(isa, rng, relu):
    mr = tiles()["s8"][0]
    for m, n, ldc in [(mr, S8_NR, S8_NR), (max(mr - 1, 1), 13, 20)]:
        A, B, a, b = s8_operands(rng, 10, m, n)
        offset = rng.integers(-500, 500, n, dtype=np.int32)
        scale = rng.uniform(1e-4, 1e-2, n).astype(np.float32)
        shift = rng.uniform(-1, 1, n).astype(np.float32)
        c = np.full((mr, ldc), MARK, np.float32)
        got = _C._ukr_s8_gemm(a, b, c, m, n, out="f32", offset=offset, scale=scale, shift=shift,
                              relu=relu)
        y = f32_epilogue(s8_acc(A, B, m, offset), scale, shift)
        if relu:
            y = np.where(y > 0, y, np.float32(0))
        want = c.copy()
        want[:m, :n] = y
        np.testing.assert_array_equal(got, want)
        if relu:
            assert not np.signbit(got[:m, :n]).any()  # +0, never -0


def test_s8_gemm_out_u8(isa, rng):
    mr = tiles()["s8"][0]
    for m, n, ldc, lo, hi in [(mr, S8_NR, S8_NR, 0.0, 255.0), (max(mr - 2, 1), 29, 31, 7.0, 200.0)]:
        A, B, a, b = s8_operands(rng, 16, m, n)
        offset = rng.integers(-500, 500, n, dtype=np.int32)
        acc = s8_acc(A, B, m, offset)
        # Scales that spread y over about [-100, 400]: both clamps and many half-way rounds hit.
        s = 500.0 / (np.ptp(acc) + 1)
        scale = (s * rng.uniform(0.99, 1.01, n)).astype(np.float32)
        shift = np.full(n, 150 - s * acc.mean(), np.float32)
        c = np.full((mr, ldc), 3, np.uint8)
        got = _C._ukr_s8_gemm(a, b, c, m, n, out="u8", offset=offset, scale=scale, shift=shift,
                              lo=lo, hi=hi)
        y = np.clip(f32_epilogue(acc, scale, shift), np.float32(lo), np.float32(hi))
        want = c.copy()
        want[:m, :n] = np.rint(y).astype(np.uint8)  # rint: round half to even
        np.testing.assert_array_equal(got, want)
        assert (got[:m, :n] == lo).any() and (got[:m, :n] == hi).any()


def test_s8_gemm_bad_arguments(isa, rng):
    mr = tiles()["s8"][0]
    A, B, a, b = s8_operands(rng, 8, mr, S8_NR)
    c = np.zeros((mr, S8_NR), np.int32)
    with pytest.raises(ValueError, match="m"):
        _C._ukr_s8_gemm(a, b, np.zeros((mr + 1, S8_NR), np.int32), mr + 1, S8_NR)
    with pytest.raises(ValueError, match="n"):
        _C._ukr_s8_gemm(a, b, c, mr, S8_NR + 1)
    with pytest.raises(ValueError, match="a"):
        _C._ukr_s8_gemm(a[:, :4].copy(), b, c, mr, S8_NR)
    with pytest.raises(ValueError, match="offset"):
        _C._ukr_s8_gemm(a, b, c, mr, S8_NR, offset=np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="c"):
        _C._ukr_s8_gemm(a, b, c.astype(np.float32), mr, S8_NR, out="s32")
    with pytest.raises(ValueError, match="out"):
        _C._ukr_s8_gemm(a, b, c, mr, S8_NR, out="s16")


# -- sparse CSR x dense panel (f32_spmm) -----------------------------------------------------------
def csr(rng, m, k, density, empty_rows=()):
    w = rng.standard_normal((m, k)).astype(np.float32)
    w[rng.random((m, k)) >= density] = 0
    w[list(empty_rows)] = 0
    row_ptr = np.concatenate([[0], np.cumsum((w != 0).sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(w)
    return w, row_ptr, cols.astype(np.int32), w[rows, cols].astype(np.float32)


def check_spmm(rng, m, k, n, ldx=None, ldy=None, bias=True, relu=False, density=0.3,
               empty_rows=(), lead=0):
    """lead > 0: row_ptr starts at lead into col/val (the kernel reads from row_ptr[0] on)."""
    w, row_ptr, col, val = csr(rng, m, k, density, empty_rows)
    if lead:
        col = np.concatenate([rng.integers(0, k, lead).astype(np.int32), col])
        val = np.concatenate([np.full(lead, np.nan, np.float32), val])
        row_ptr = row_ptr + lead
    x = rng.standard_normal((k, ldx or n)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if bias else None
    y = np.full((m + 1, ldy or n), MARK, np.float32)
    got = _C._ukr_spmm(row_ptr, col, val, x, b, y, n, relu=relu)
    ref = w.astype(np.float64) @ x[:, :n].astype(np.float64)
    if bias:
        ref += b[:, None]
    if relu:
        ref = np.maximum(ref, 0)
    nnz_row = max(int((w != 0).sum(axis=1).max()), 1)
    tol = 4 * EPS * (np.sqrt(nnz_row) * np.abs(w).max() * np.abs(x[:, :n]).max()
                     + (np.abs(b).max() if bias else 0))
    np.testing.assert_allclose(got[:m, :n], ref, rtol=0, atol=max(tol, 0.0))
    outside = np.ones(y.shape, bool)
    outside[:m, :n] = False
    np.testing.assert_array_equal(got[outside], y[outside])


def spmm_widths():
    nb = tiles()["spmm_nb"]
    return {"n_eq_1": [1], "n_lt_nb": sorted({max(nb - 1, 1), max(nb // 2, 1)}), "n_eq_nb": [nb],
            "n_gt_nb": [nb + 1, nb + 7], "n_div_nb": [2 * nb, 3 * nb]}


@pytest.mark.parametrize("case", ["n_eq_1", "n_lt_nb", "n_eq_nb", "n_gt_nb", "n_div_nb"])
def test_spmm_n(isa, rng, case):
    for n in spmm_widths()[case]:
        check_spmm(rng, 7, 13, n)


@pytest.mark.parametrize("m,k", [(1, 1), (1, 17), (5, 1), (13, 31)])
def test_spmm_edge_shapes(isa, rng, m, k):
    for n in spmm_widths()["n_gt_nb"] + [1]:
        check_spmm(rng, m, k, n, density=0.5)


def test_spmm_empty_rows_and_relu(isa, rng):
    # Empty rows give act(bias); relu clamps; bias None is 0.
    for relu in (False, True):
        for bias in (True, False):
            check_spmm(rng, 6, 9, tiles()["spmm_nb"] + 3, empty_rows=(0, 3, 5), relu=relu,
                       bias=bias)
    check_spmm(rng, 4, 5, 5, density=0.0)  # no nonzero at all


def test_spmm_strided_x_and_y(isa, rng):
    nb = tiles()["spmm_nb"]
    for n in (1, nb, nb + 5):
        check_spmm(rng, 5, 11, n, ldx=n + 3, ldy=n + 9)


def test_spmm_row_ptr_offset(isa, rng):
    # row_ptr[0] > 0: entries before it (NaN values) are never read.
    check_spmm(rng, 5, 8, tiles()["spmm_nb"] + 2, lead=4)


def test_spmm_bad_arguments(isa, rng):
    w, row_ptr, col, val = csr(rng, 3, 4, 0.8)
    x = np.ones((4, 8), np.float32)
    y = np.zeros((3, 8), np.float32)
    bad = col.copy()
    bad[0] = 4
    with pytest.raises(ValueError, match="col"):
        _C._ukr_spmm(row_ptr, bad, val, x, None, y, 8)
    rp = row_ptr.copy()
    rp[-1] = len(col) + 1
    with pytest.raises(ValueError, match="row_ptr"):
        _C._ukr_spmm(rp, col, val, x, None, y, 8)
    with pytest.raises(ValueError, match="n"):
        _C._ukr_spmm(row_ptr, col, val, x, None, y, 9)
    with pytest.raises(ValueError, match="bias"):
        _C._ukr_spmm(row_ptr, col, val, x, np.zeros(2, np.float32), y, 8)
    with pytest.raises(ValueError, match="y"):
        _C._ukr_spmm(row_ptr, col, val, x, None, y[:2].copy(), 8)
    with pytest.raises(TypeError, match="col"):
        _C._ukr_spmm(row_ptr, col.astype(np.int64), val, x, None, y, 8)
