"""The C++ pieces of fastnn.prune on every ISA path: mask application (f32_mask_mul), the
magnitude selection (against a sort-based reference with explicit tie order), unit norms, and the
sparse convolution (against a float64 convolution)."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference import EPS32

# Vector widths 8 / 16 and the 64 Ki-entry parallel chunk: sizes on both sides of each.
SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 65535, 65536, 65537, 200003]


@pytest.mark.parametrize("n", SIZES)
def test_mask_apply_every_size(isa, rng, n, threads):
    fastnn.set_num_threads(2)
    x = rng.standard_normal(n).astype(np.float32)
    mask = (rng.random(n) < 0.5).astype(np.float32)
    want = x * mask
    _C.mask_apply(x, mask)
    np.testing.assert_array_equal(x, want)
    assert np.all(x[mask == 0] == 0.0)


def test_mask_apply_leaves_neighbours_alone(isa, rng):
    # A tail shorter than a vector must not write past the end: apply to a slice of a buffer.
    buf = rng.standard_normal(64).astype(np.float32)
    before = buf.copy()
    mask = np.zeros(13, np.float32)
    _C.mask_apply(buf[3:16], mask)
    np.testing.assert_array_equal(buf[:3], before[:3])
    np.testing.assert_array_equal(buf[16:], before[16:])
    assert np.all(buf[3:16] == 0.0)


def test_mask_apply_checks_arguments(rng):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="mask"):
        _C.mask_apply(x, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="data"):
        _C.mask_apply(np.ones((4, 6), np.float32)[:, ::2], np.ones((4, 3), np.float32))
    with pytest.raises(TypeError, match="data"):
        _C.mask_apply(np.ones((3, 4)), np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="mask"):
        _C.mask_apply(x, x)
    ro = np.ones(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.mask_apply(ro, np.ones(4, np.float32))


def reference_masks(weights, masks, n_zero):
    """Sort-based: already-masked stay, then the smallest |w| by (|w|, tensor, index)."""
    flat_w = np.concatenate([w.ravel() for w in weights]).astype(np.float64)
    flat_m = np.concatenate([np.ones(w.size) if m is None else m.ravel()
                             for w, m in zip(weights, masks)])
    pruned = flat_m == 0
    need = n_zero - pruned.sum()
    if need > 0:
        order = sorted((i for i in range(flat_w.size) if not pruned[i]),
                       key=lambda i: (np.isnan(flat_w[i]), abs(flat_w[i]), i))
        pruned[order[:need]] = True
    out, start = [], 0
    for w in weights:
        out.append((~pruned[start:start + w.size]).astype(np.float32).reshape(w.shape))
        start += w.size
    return out


@pytest.mark.parametrize("shapes", [[(1,)], [(5, 7)], [(3, 4), (17,), (2, 3, 3)]])
@pytest.mark.parametrize("frac", [0.0, 0.3, 0.5, 0.99, 1.0])
def test_magnitude_masks_match_reference(rng, shapes, frac):
    weights = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    masks = [None if i % 2 else (rng.random(s) < 0.8).astype(np.float32)
             for i, s in enumerate(shapes)]
    total = sum(w.size for w in weights)
    n_zero = round(frac * total)
    got = _C.magnitude_masks(weights, masks, n_zero)
    want = reference_masks(weights, masks, n_zero)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_magnitude_masks_ties_and_specials():
    # Equal magnitudes (and signs, and zeros) resolve by position; NaN is pruned last.
    w = np.array([2, -1, 1, 0, -0.0, np.nan, 1, np.inf, -1], np.float32)
    got = _C.magnitude_masks([w], [None], 4)[0]
    np.testing.assert_array_equal(got, [1, 0, 0, 0, 0, 1, 1, 1, 1])
    got = _C.magnitude_masks([w], [None], 8)[0]
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 0, 1, 0, 0, 0])
    # Across tensors the earlier one loses the tie.
    a, b = np.ones(3, np.float32), np.ones(3, np.float32)
    ga, gb = _C.magnitude_masks([a, b], [None, None], 4)
    np.testing.assert_array_equal(ga, [0, 0, 0])
    np.testing.assert_array_equal(gb, [0, 1, 1])


def test_magnitude_masks_never_unprune():
    w = np.arange(1, 7, dtype=np.float32)
    m = np.array([1, 1, 1, 0, 0, 0], np.float32)  # the largest three are already pruned
    got = _C.magnitude_masks([w], [m], 2)[0]
    np.testing.assert_array_equal(got, m)
    got = _C.magnitude_masks([w], [m], 4)[0]
    np.testing.assert_array_equal(got, [0, 1, 1, 0, 0, 0])


def test_magnitude_masks_checks_arguments():
    w = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="n_zero"):
        _C.magnitude_masks([w], [None], 5)
    with pytest.raises(ValueError, match="n_zero"):
        _C.magnitude_masks([w], [None], -1)
    with pytest.raises(ValueError, match="masks"):
        _C.magnitude_masks([w], [np.ones(3, np.float32)], 1)
    with pytest.raises(ValueError, match="masks"):
        _C.magnitude_masks([w], [], 1)


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (3, 17), (64, 3, 3, 3), (300, 500)])
def test_unit_norms(isa, rng, shape, threads):
    fastnn.set_num_threads(2)
    w = rng.standard_normal(shape).astype(np.float32)
    rows = w.reshape(shape[0], -1).astype(np.float64)
    tol = 8 * EPS32 * np.sqrt(rows.shape[1]) * np.abs(rows).max()
    np.testing.assert_allclose(_C.unit_norms(w, 1), np.abs(rows).sum(1), rtol=0,
                               atol=tol * rows.shape[1])
    np.testing.assert_allclose(_C.unit_norms(w, 2), np.sqrt((rows ** 2).sum(1)), rtol=0,
                               atol=tol * np.sqrt(rows.shape[1]))
    with pytest.raises(ValueError, match="p"):
        _C.unit_norms(w, 3)


def conv_ref(x, w, b, stride, pad, dil):
    x = x.astype(np.float64)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky * dil[0]:ky * dil[0] + stride[0] * (oh - 1) + 1:stride[0],
                       kx * dil[1]:kx * dil[1] + stride[1] * (ow - 1) + 1:stride[1]]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx].astype(np.float64))
    if b is not None:
        y += b[None, :, None, None]
    return y


CONVS = {  # (in, out, H, W, kernel, stride, padding, dilation)
    "3x3_pad1": (3, 5, 7, 9, (3, 3), (1, 1), (1, 1), (1, 1)),
    "1x1_direct": (4, 6, 5, 5, (1, 1), (1, 1), (0, 0), (1, 1)),
    "strided_dilated": (4, 6, 11, 10, (3, 2), (2, 3), (2, 0), (1, 2)),
    "pad_wider_than_image": (2, 3, 2, 3, (3, 3), (1, 1), (2, 2), (1, 1)),
    "mnist_conv2": (32, 64, 14, 14, (3, 3), (1, 1), (1, 1), (1, 1)),
    "odd_pixels_1x1_stride2": (5, 7, 9, 7, (1, 1), (2, 2), (0, 0), (1, 1)),
}


@pytest.mark.parametrize("case", list(CONVS))
@pytest.mark.parametrize("relu", [False, True])
def test_sparse_conv2d_matches_dense_convolution(isa, rng, case, relu):
    c, o, h, wd, k, s, p, d = CONVS[case]
    x = rng.standard_normal((3, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((o, c) + k).astype(np.float32)
    w[rng.random(w.shape) < 0.7] = 0.0
    w[0] = 0.0  # an empty row: output is act(bias)
    b = rng.standard_normal(o).astype(np.float32)
    m = _C.SparseMatrix.from_dense(w.reshape(o, -1), 0.0)
    got = _C.sparse_conv2d(m, x, b, k, s, p, d, relu)
    want = conv_ref(x, w, b, s, p, d)
    if relu:
        want = np.maximum(want, 0.0)
    assert got.shape == want.shape and got.dtype == np.float32
    kk = c * k[0] * k[1]
    tol = 4 * EPS32 * np.sqrt(kk) * (np.abs(x).max() * np.abs(w).max() * np.sqrt(kk)
                                     + np.abs(b).max())
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_sparse_conv2d_checks_arguments(rng):
    w = rng.standard_normal((4, 3 * 9)).astype(np.float32)
    m = _C.SparseMatrix.from_dense(w, 0.0)
    x = np.ones((2, 3, 5, 5), np.float32)
    with pytest.raises(ValueError, match="x"):
        _C.sparse_conv2d(m, np.ones((2, 4, 5, 5), np.float32), None, (3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="x"):
        _C.sparse_conv2d(m, np.ones((3, 5, 5), np.float32), None, (3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="larger than the padded input"):
        _C.sparse_conv2d(m, np.ones((1, 3, 2, 2), np.float32), None, (3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="bias"):
        _C.sparse_conv2d(m, x, np.ones(3, np.float32), (3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="taps"):
        _C.sparse_conv2d(m, x, None, (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError):
        _C.sparse_conv2d(m, x, None, (3, 3), (0, 1), (0, 0), (1, 1))


@pytest.mark.parametrize("case", ["3x3_pad1", "1x1_direct", "strided_dilated"])
def test_sparse_conv2d_same_bits_any_thread_count(isa, rng, case, threads):
    # 2+ threads split the images (one region per batch); 1 thread or 1 image splits within it.
    c, o, h, wd, k, s, p, d = CONVS[case]
    x = rng.standard_normal((5, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((o, c) + k).astype(np.float32)
    w[rng.random(w.shape) < 0.6] = 0.0
    b = rng.standard_normal(o).astype(np.float32)
    m = _C.SparseMatrix.from_dense(w.reshape(o, -1), 0.0)
    fastnn.set_num_threads(1)
    one = _C.sparse_conv2d(m, x, b, k, s, p, d, True)
    fastnn.set_num_threads(2)
    two = _C.sparse_conv2d(m, x, b, k, s, p, d, True)
    single = _C.sparse_conv2d(m, x[2:3], b, k, s, p, d, True)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(single[0], two[2])
