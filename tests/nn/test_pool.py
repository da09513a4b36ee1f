"""MaxPool2d, AvgPool2d, GlobalAvgPool2d against float64 references on every ISA path (stride-1
masked loads, the stride-2 deinterleave, gathers for other strides), PyTorch's argmax and NaN
rules, gradients, torch where installed, bad input."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.module import module_from_config
from tests.conv_reference import central_diff, pool2d_ref

# (kernel, stride, padding, h, w): output widths around the vector widths (8 / 16 lanes).
POOL_CASES = [
    (2, None, 0, 28, 28),
    (2, 2, 0, 14, 66),           # 33 outputs per row: two full chunks and a tail
    (3, 2, 1, 23, 37),
    (3, 1, 1, 9, 17),            # stride 1
    ((2, 3), (3, 2), (1, 1), 11, 35),
    (3, 3, 0, 10, 50),           # stride 3: gathers
    (1, 1, 0, 5, 7),
    (5, 4, 2, 13, 64),
    (4, 2, 2, 6, 31),
]


def _avg_backward_ref(gy, in_shape, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = [(v, v) if np.isscalar(v) else v for v in (kernel, stride, padding)]
    h, w = in_shape[2:]
    dxp = np.zeros(in_shape[:2] + (h + 2 * ph, w + 2 * pw))
    for oy in range(gy.shape[2]):
        for ox in range(gy.shape[3]):
            dxp[:, :, oy * sh:oy * sh + kh, ox * sw:ox * sw + kw] += gy[:, :, oy:oy + 1, ox:ox + 1] / (kh * kw)
    return dxp[:, :, ph:ph + h, pw:pw + w]


def _pool_backward_ref(gy, argmax, in_shape):
    dx = np.zeros(in_shape)
    n, c = in_shape[:2]
    flat = dx.reshape(n, c, -1)
    for i in range(n):
        for j in range(c):
            np.add.at(flat[i, j], argmax[i, j].ravel(), gy[i, j].ravel())
    return dx


@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_forward_backward(isa, rng, case):
    k, s, p, h, w = case
    m = nn.MaxPool2d(k, s, p)
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    y = m(x)
    want, arg = pool2d_ref(x, k, k if s is None else s, p, "max")
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(m._saved[2], arg)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(m.backward(gy), _pool_backward_ref(gy, arg, x.shape), rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool_forward_backward(isa, rng, case):
    k, s, p, h, w = case
    m = nn.AvgPool2d(k, s, p)
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    y = m(x)
    want = pool2d_ref(x, k, k if s is None else s, p, "avg")
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = m.backward(gy)
    np.testing.assert_allclose(dx, _avg_backward_ref(gy, x.shape, k, k if s is None else s, p),
                               rtol=0, atol=1e-5)


def test_avgpool_gradient_finite_differences(rng):
    m = nn.AvgPool2d(3, 2, 1)
    x = rng.standard_normal((1, 2, 5, 6))
    gy = rng.standard_normal(m(x.astype(np.float32)).shape)
    dx = m.backward(gy.astype(np.float32))
    arrays = [x.copy()]
    fd = central_diff(lambda: float(np.sum(pool2d_ref(arrays[0], 3, 2, 1, "avg") * gy)), arrays, 0, 0.5)
    np.testing.assert_allclose(dx, fd, rtol=0, atol=1e-5)  # linear: any step is exact


def test_maxpool_gradient_finite_differences(rng):
    m = nn.MaxPool2d(3, 2, 1)
    x = rng.permutation(np.arange(2 * 7 * 6, dtype=np.float64)).reshape(1, 2, 7, 6) / 10  # no ties
    gy = rng.standard_normal(m(x.astype(np.float32)).shape)
    dx = m.backward(gy.astype(np.float32))
    arrays = [x.copy()]
    fd = central_diff(lambda: float(np.sum(pool2d_ref(arrays[0], 3, 2, 1, "max")[0] * gy)), arrays, 0, 1e-3)
    np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-5)


def test_maxpool_ties_nan_inf(isa):
    m = nn.MaxPool2d(2, 2, 1)
    x = np.zeros((1, 1, 5, 5), np.float32)  # ties everywhere: the first element of each window
    y = m(x)
    _, arg = pool2d_ref(x, 2, 2, 1, "max")
    np.testing.assert_array_equal(m._saved[2], arg)
    x = np.full((1, 2, 4, 6), -np.inf, np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan
    x[0, 1, 3, 5] = np.inf
    y = m(x)
    want, arg = pool2d_ref(x, 2, 2, 1, "max")
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(m._saved[2], arg)  # NaN wins, the last NaN scanned is kept
    assert np.isnan(y[0, 0, 1, 1]) and m._saved[2][0, 0, 1, 1] == 1 * 6 + 2 and y[0, 1, 2, 3] == np.inf
    assert (y[0, 1, 0] == -np.inf).all()
    m.backward(np.ones_like(y))


def test_against_torch(torch, rng):
    for k, s, p in [(2, 2, 0), (3, 2, 1), (3, 1, 1), ((3, 2), (1, 2), (1, 0))]:
        x = rng.standard_normal((2, 3, 15, 19)).astype(np.float32)
        x[0, 0, 3, :4] = np.nan
        xt = torch.from_numpy(x)
        m = nn.MaxPool2d(k, s, p)
        yt, it = torch.nn.functional.max_pool2d(xt, k, s, p, return_indices=True)
        np.testing.assert_array_equal(m(x), yt.numpy())
        np.testing.assert_array_equal(m._saved[2], it.numpy())
        a = nn.AvgPool2d(k, s, p)
        np.testing.assert_allclose(a(x), torch.nn.functional.avg_pool2d(xt, k, s, p).numpy(), atol=1e-6)


def test_noncontiguous_and_unbatched(rng):
    base = rng.standard_normal((2, 10, 3, 12))
    x = base.transpose(0, 2, 1, 3)  # (2, 3, 10, 12) float64 view
    m = nn.MaxPool2d(2)
    np.testing.assert_array_equal(m(x), m(np.ascontiguousarray(x, np.float32)))
    single = m(x[0])
    assert single.shape == (3, 5, 6)
    assert m.backward(np.ones_like(single)).shape == (3, 10, 12)


def test_global_avg_pool(isa, rng):
    x = rng.standard_normal((3, 5, 7, 9)).astype(np.float32) + 2
    m = nn.GlobalAvgPool2d()
    y = m(x)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(2, 3)), rtol=0, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(m.backward(gy), np.broadcast_to(gy[:, :, None, None] / 63, x.shape),
                               rtol=1e-6)
    k = nn.GlobalAvgPool2d(keepdim=True)
    assert k(x).shape == (3, 5, 1, 1)
    with pytest.raises(ValueError, match="grad_out"):
        k.backward(np.ones((3, 5), np.float32))
    assert k.backward(np.ones((3, 5, 1, 1), np.float32)).shape == x.shape  # not lost by the error
    with pytest.raises(ValueError, match="called before forward"):
        k.backward(np.ones((3, 5), np.float32))


def test_repr_and_config():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.AvgPool2d((2, 3), 1, (1, 0))) == \
        "AvgPool2d(kernel_size=(2, 3), stride=1, padding=(1, 0))"
    for m in (nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2), nn.GlobalAvgPool2d(keepdim=True)):
        assert repr(module_from_config(m.to_spec())) == repr(m)


def test_bad_inputs():
    with pytest.raises(ValueError, match="padding.*at most half"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="stride"):
        nn.AvgPool2d(2, stride=0)
    with pytest.raises(TypeError, match="kernel_size"):
        nn.MaxPool2d(2.0)
    m = nn.MaxPool2d(3)
    with pytest.raises(ValueError, match=r"MaxPool2d.*input: expected a 3-D or 4-D array.*\(4, 4\)"):
        m(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"kernel_size \(3, 3\) is larger than the padded input \(2, 8\)"):
        m(np.zeros((1, 1, 2, 8), np.float32))
    with pytest.raises(ValueError, match="before forward"):
        m.backward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="expected a 4-D"):
        nn.GlobalAvgPool2d()(np.zeros((2, 3, 4), np.float32))


def test_raw_backward_rejects_bad_argmax():
    from fastnn import _C
    y, idx = _C.maxpool2d_forward(np.zeros((1, 1, 4, 4), np.float32), (2, 2), (2, 2), (0, 0))
    idx[0, 0, 1, 1] = 99
    with pytest.raises(IndexError, match="argmax"):
        _C.maxpool2d_backward(np.ones_like(y), idx, (1, 1, 4, 4), (2, 2), (2, 2), (0, 0))
    with pytest.raises(TypeError, match="argmax"):
        _C.maxpool2d_backward(np.ones_like(y), idx.astype(np.float32), (1, 1, 4, 4), (2, 2), (2, 2), (0, 0))
