"""Conv/pool/batch-norm leaves and raw entry points on every ISA path, against plain references:
edge tiles (m < mr, n < nr), row tails, masks. Small shapes: this file also runs under ASan."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.conv_reference import conv2d_grads_ref, conv2d_ref, pool2d_ref, tol


@pytest.mark.parametrize("nrows,len_,width,ld", [(1, 1, 1, 1), (3, 5, 3, 3), (14, 17, 14, 14),
                                                 (16, 16, 16, 16), (17, 33, 32, 32), (5, 40, 5, 7),
                                                 (8, 3, 14, 14), (0, 4, 6, 6)])
@pytest.mark.parametrize("with_add", [False, True])
def test_transpose_rows(isa, rng, nrows, len_, width, ld, with_add):
    src = rng.standard_normal((nrows, len_)).astype(np.float32)
    add = rng.standard_normal(len_).astype(np.float32) if with_add else None
    got = _C._leaf_transpose_rows(src, ld, width, add)
    want = np.full((len_, ld), -7.0, np.float32)
    want[:, :width] = 0
    want[:, :nrows] = src.T + (add[:, None] if with_add else 0)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n_src,lead,n_dst,dld", [(14, 1, 16, 16), (14, 0, 15, 15), (5, 3, 40, 41),
                                                  (33, 2, 35, 35), (1, 0, 1, 1), (20, 0, 10, 12)])
def test_copy_rows_padded(isa, rng, n_src, lead, n_dst, dld):
    src = rng.standard_normal((3, n_src)).astype(np.float32)
    got = _C._leaf_copy_rows_padded(src, lead, n_dst, dld)
    want = np.full((3, dld), -7.0, np.float32)
    want[:, :n_dst] = 0
    hi = min(n_dst, lead + n_src)
    want[:, lead:hi] = src[:, :hi - lead]
    np.testing.assert_array_equal(got, want)


def _ukr_tile():
    return _C._conv_tile()


@pytest.mark.parametrize("k", [1, 3, 17])
@pytest.mark.parametrize("edge", ["full", "m_subtile", "n_subtile", "both"])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("step", [1, 2, 3])
def test_conv_ukr(isa, rng, k, edge, accumulate, step):
    mr, nr = _ukr_tile()
    m = mr if edge in ("full", "n_subtile") else max(1, mr - 3)
    n = nr if edge in ("full", "m_subtile") else max(1, nr - 5)
    a_base = rng.standard_normal(100 + mr * step).astype(np.float32)
    a_off = rng.integers(0, 100, k).astype(np.int64)
    b = rng.standard_normal((k, nr)).astype(np.float32)
    c0 = rng.standard_normal((m, nr + 3)).astype(np.float32)
    got = _C._leaf_conv_ukr(a_base, a_off, step, b, c0.copy(), m, n, accumulate)
    a = np.stack([a_base[o:o + mr * step:step] for o in a_off])  # k x mr
    want = c0.astype(np.float64).copy()
    prod = (a.T.astype(np.float64) @ b)[:m, :n]
    want[:, :n] = prod + (c0[:, :n] if accumulate else 0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(k, a, b) + 1e-6)


@pytest.mark.parametrize("rows,row_len,stride,step", [(1, 1, 1, 1), (3, 5, 7, 1), (2, 14, 15, 1),
                                                      (4, 3, 3, 1), (3, 4, 9, 2), (2, 5, 16, 3)])
@pytest.mark.parametrize("edge", ["full", "both"])
def test_conv_wgrad_ukr(isa, rng, rows, row_len, stride, step, edge):
    mr, nr = _ukr_tile()
    m, n = (mr, nr) if edge == "full" else (max(1, mr - 2), max(1, nr - 3))
    a = rng.standard_normal((m, rows * stride)).astype(np.float32)
    b = rng.standard_normal((rows * row_len, nr)).astype(np.float32)
    c0 = rng.standard_normal((m, nr)).astype(np.float32)
    got = _C._leaf_conv_wgrad_ukr(a, rows, row_len, stride, step, b, c0.copy(), n, True)
    taps = a.reshape(m, rows, stride)[:, :, :row_len * step:step].reshape(m, -1).astype(np.float64)
    want = c0.astype(np.float64).copy()
    want[:, :n] += (taps @ b)[:, :n]
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(rows * row_len, a, b) + 1e-6)


# Raw entry points: every algorithm of conv2d_forward / conv2d_backward on tiny shapes.
# (n, c, k, kernel, stride, padding, dilation, groups, h, w)
RAW_CONV = [
    (2, 3, 16, (3, 3), (1, 1), (1, 1), (1, 1), 1, 6, 7),    # direct
    (2, 1, 16, (3, 3), (1, 1), (1, 1), (1, 1), 1, 5, 9),    # dX by GEMM + gather col2im
    (2, 4, 16, (1, 1), (1, 1), (0, 0), (1, 1), 1, 3, 5),    # 1x1 in place
    (2, 3, 2, (3, 3), (1, 1), (0, 0), (1, 1), 1, 6, 6),     # forward by GEMM (few outputs)
    (2, 4, 6, (3, 2), (2, 3), (1, 1), (2, 1), 2, 9, 10),    # strided: forward GEMM, dX GEMM
    (2, 4, 32, (3, 3), (2, 2), (1, 1), (1, 1), 1, 9, 11),   # strided: direct forward and dW
    (2, 4, 8, (3, 3), (1, 2), (2, 1), (1, 1), 4, 7, 8),     # depthwise
    (2, 6, 4, (1, 1), (1, 1), (0, 0), (1, 1), 2, 28, 29),   # pointwise, grouped, plane >= 784:
    (1, 33, 17, (1, 1), (1, 1), (0, 0), (1, 1), 1, 28, 28),  # dX by one GEMM per image
]


@pytest.mark.parametrize("case", RAW_CONV)
def test_raw_conv2d(isa, rng, threads, case):
    n, c, k, ks, s, p, d, g, h, w = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // g) + ks).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    y = _C.conv2d_forward(x, wt, b, s, p, d, g)
    kdim = wt[0].size
    np.testing.assert_allclose(y, conv2d_ref(x, wt, b, s, p, d, g), rtol=0, atol=tol(kdim, x, wt) + 1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dw = np.zeros_like(wt)
    db = np.zeros_like(b)
    dx = _C.conv2d_backward(x, gy, wt, s, p, d, g, True, dw, db)
    rdx, rdw, rdb = conv2d_grads_ref(x, wt, gy, s, p, d, g)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=tol(k * kdim, gy, wt))
    np.testing.assert_allclose(dw, rdw, rtol=0, atol=tol(gy.size, gy, x))
    np.testing.assert_allclose(db, rdb, rtol=0, atol=tol(gy.size, gy))
    yt = _C.conv_transpose2d_forward(gy, wt, None, s, p, (0, 0), d, g)
    assert yt.shape[1:] == (c, h, w) or s != (1, 1)


def test_raw_pool_and_batchnorm(isa, rng):
    x = rng.standard_normal((2, 3, 9, 37)).astype(np.float32)
    for s in (1, 2, 3):
        y, idx = _C.maxpool2d_forward(x, (3, 3), (s, s), (1, 1))
        want, arg = pool2d_ref(x, 3, s, 1, "max")
        np.testing.assert_array_equal(y, want.astype(np.float32))
        np.testing.assert_array_equal(idx, arg)
        dx = _C.maxpool2d_backward(np.ones_like(y), idx, x.shape, (3, 3), (s, s), (1, 1))
        assert dx.sum() == pytest.approx(y.size)
        ya = _C.avgpool2d_forward(x, (3, 3), (s, s), (1, 1))
        np.testing.assert_allclose(ya, pool2d_ref(x, 3, s, 1, "avg"), atol=1e-5)
        dxa = _C.avgpool2d_backward(np.ones_like(ya), x.shape, (3, 3), (s, s), (1, 1))
        share = _C.avgpool2d_forward(np.ones_like(x), (3, 3), (s, s), (1, 1))  # real fraction
        assert dxa.sum() == pytest.approx(share.sum(), rel=1e-5)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    for shape in [(5, 3), (2, 3, 1), (2, 3, 17), (2, 3, 64)]:
        xb = rng.standard_normal(shape).astype(np.float32)
        yb, mean, inv = _C.batchnorm_forward(xb, None, None, rm, rv, True, 0.1, 1e-5)
        axes = (0,) + tuple(range(2, xb.ndim))
        np.testing.assert_allclose(mean, xb.mean(axes), atol=1e-6)
        np.testing.assert_allclose(inv, 1 / np.sqrt(xb.var(axes) + 1e-5), rtol=1e-5)
        gw, gb = np.zeros(3, np.float32), np.zeros(3, np.float32)
        dxb = _C.batchnorm_backward(np.ones_like(xb), xb, None, mean, inv, True, True, gw, gb)
        np.testing.assert_allclose(dxb, 0, atol=1e-5 * inv.max())  # constant gradient: normalised away
        np.testing.assert_allclose(gb, xb.size // 3, rtol=1e-6)
    g = _C.global_avgpool_forward(x)
    np.testing.assert_allclose(g, x.mean(axis=(2, 3)), atol=1e-6)


# The taps leaf (f32_conv_taps_row): a stride-1 (along x), groups-1 forward with cg*kh*kw <= 64,
# read in place from a padded copy -- the im2col algorithm's path for first layers. Output
# channels around its 8-channel passes, widths around 1 and 2 vector widths, 64 taps (the limit)
# and 65 (the GEMM again), vertical stride and dilation.
# (n, c, k, kernel, stride, padding, dilation, h, w)
TAPS_CONV = [
    (3, 1, 32, (3, 3), (1, 1), (1, 1), (1, 1), 28, 28),
    (2, 1, 1, (3, 3), (1, 1), (0, 0), (1, 1), 5, 3),
    (1, 2, 7, (3, 3), (1, 1), (1, 1), (1, 1), 4, 8),
    (2, 3, 9, (3, 3), (1, 1), (1, 1), (1, 1), 6, 16),
    (1, 3, 17, (5, 3), (2, 1), (2, 1), (1, 2), 11, 17),
    (2, 7, 8, (3, 3), (1, 1), (2, 2), (2, 2), 9, 33),
    (1, 4, 16, (4, 4), (1, 1), (1, 2), (1, 1), 7, 15),   # 64 taps
    (1, 5, 16, (13, 1), (1, 1), (6, 0), (1, 1), 8, 9),   # 65 taps: the GEMM
    (2, 16, 3, (1, 1), (1, 1), (0, 0), (1, 1), 3, 31),
]


# 1x1 stride-1 convolutions past the taps limit (K > 64): the im2col GEMM packs its B panels from
# the input planes as a plain matrix. Pixels around the panel widths, output channels around the
# row tiles, groups, batch 1. (n, c, k, groups, h, w)
POINTWISE_CONV = [(1, 65, 1, 1, 1, 1), (2, 67, 15, 1, 5, 7), (1, 96, 29, 1, 4, 8),
                  (3, 130, 34, 2, 3, 11), (1, 128, 64, 1, 7, 7), (2, 256, 16, 4, 1, 33)]


@pytest.mark.parametrize("case", POINTWISE_CONV)
def test_pointwise_conv_im2col_gemm(isa, rng, threads, case):
    n, c, k, g, h, w = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // g, 1, 1)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    want = conv2d_ref(x, wt, b, 1, 0, 1, g)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        y = _C.conv2d_forward(x, wt, b, (1, 1), (0, 0), (1, 1), g, "im2col")
        np.testing.assert_allclose(y, want, rtol=0, atol=tol(c // g, x, wt) + tol(1, b))
    strided = np.repeat(x, 2, axis=0)[::2]
    np.testing.assert_array_equal(_C.conv2d_forward(strided, wt, b, (1, 1), (0, 0), (1, 1), g, "im2col"),
                                  _C.conv2d_forward(x, wt, b, (1, 1), (0, 0), (1, 1), g, "im2col"))


@pytest.mark.parametrize("case", TAPS_CONV)
def test_taps_conv_forward(isa, rng, threads, case):
    n, c, k, ks, s, p, d, h, w = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c) + ks).astype(np.float32)
    want = conv2d_ref(x, wt, None, s, p, d, 1)
    for b in (None, rng.standard_normal(k).astype(np.float32)):
        y = _C.conv2d_forward(x, wt, b, s, p, d, 1, "im2col")
        ref = want if b is None else want + b[:, None, None]
        np.testing.assert_allclose(y, ref, rtol=0, atol=tol(wt[0].size, x, wt) + 1e-5)
    strided = np.repeat(x, 2, axis=0)[::2]  # a strided batch view: same result
    np.testing.assert_array_equal(_C.conv2d_forward(strided, wt, None, s, p, d, 1, "im2col"),
                                  _C.conv2d_forward(x, wt, None, s, p, d, 1, "im2col"))


# Depthwise 3x3 leaves: the stride-1 forward (four rows per pass, mask-free interior vectors,
# also the stride-1 input gradient), the stride-1/2 weight gradient (nine accumulators) and the
# stride-2 input gradient (gather form), against the float64 reference on edge shapes: widths
# around the vector width (8 / 16 lanes) and its double, heights around the 4-row block, paddings
# 0-2, channel multipliers 1 and 2, and 5x5 / dilated filters that take the general leaves.
DW_CASES = [  # (n, c, mult, k, stride, pad, dil, h, w)
    (1, 1, 1, 3, 1, 1, 1, 1, 1), (2, 3, 1, 3, 1, 1, 1, 5, 17), (1, 2, 2, 3, 1, 0, 1, 7, 33),
    (1, 4, 1, 3, 1, 2, 1, 9, 16), (2, 2, 1, 3, 1, 1, 1, 4, 40), (1, 3, 1, 3, 2, 1, 1, 7, 31),
    (2, 2, 2, 3, 2, 0, 1, 8, 34), (1, 2, 1, 3, 2, 2, 1, 11, 65), (1, 2, 1, 3, 2, 1, 1, 2, 2),
    (1, 2, 1, 5, 1, 2, 1, 9, 20), (1, 2, 1, 3, 1, 2, 2, 9, 20), (1, 2, 1, 3, 2, 1, 1, 56, 56),
]


@pytest.mark.parametrize("case", DW_CASES)
def test_depthwise_leaves(isa, rng, threads, case):
    n, c, mult, k, s, p, d, h, w = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((c * mult, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(c * mult).astype(np.float32)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        y = _C.conv2d_forward(x, wt, b, (s, s), (p, p), (d, d), c)
        np.testing.assert_allclose(y, conv2d_ref(x, wt, b, s, p, d, c), rtol=0,
                                   atol=tol(k * k, x, wt) + 1e-5)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        dw = np.zeros_like(wt)
        dx = _C.conv2d_backward(x, gy, wt, (s, s), (p, p), (d, d), c, True, dw, None)
        rdx, rdw, _ = conv2d_grads_ref(x, wt, gy, s, p, d, c)
        np.testing.assert_allclose(dx, rdx, rtol=0, atol=tol(mult * k * k, gy, wt))
        np.testing.assert_allclose(dw, rdw, rtol=0, atol=tol(gy[0, 0].size * n, gy, x))


def test_depthwise_weight_grad_ignores_unused_columns(isa):
    """An inf in an input column no output reads (the last column of an even-width input at
    stride 2) must not reach dW through a masked-off lane (0 * inf = NaN)."""
    x = np.ones((1, 2, 6, 38), np.float32)
    x[..., 37] = np.inf  # 3x3, stride 2, padding 0: 18 outputs read columns 0..36 only
    w = np.ones((2, 1, 3, 3), np.float32)
    y = _C.conv2d_forward(x, w, None, (2, 2), (0, 0), (1, 1), 2)
    assert y.shape[-1] == 18 and np.isfinite(y).all()
    dw = np.zeros_like(w)
    _C.conv2d_backward(x, np.ones_like(y), w, (2, 2), (0, 0), (1, 1), 2, False, dw, None)
    np.testing.assert_array_equal(dw, np.full_like(w, y[0, 0].size))
