"""MaxPool2d(dilation, ceil_mode) and AvgPool2d(ceil_mode, count_include_pad): forward, backward
and argmax against a float64 numpy transcription of PyTorch's CPU loops (aten's MaxPoolKernel /
AvgPoolKernel), on every ISA path; the same against PyTorch itself (torch stage); save/load,
ONNX export->import and the int8 path keeping such a pool in float."""
import numpy as np
import pytest

import fastnn
from fastnn import nn


def out_size(n, k, s, p, d, ceil):
    span = d * (k - 1) + 1
    if ceil:
        o = -(-(n + 2 * p - span) // s) + 1
        if (o - 1) * s >= n + p:
            o -= 1
        return o
    return (n + 2 * p - span) // s + 1


def max_ref(x, k, s, p, d, ceil):
    n, c, h, w = x.shape
    oh, ow = (out_size(h, k[0], s[0], p[0], d[0], ceil), out_size(w, k[1], s[1], p[1], d[1], ceil))
    y = np.empty((n, c, oh, ow), np.float64)
    at = np.empty((n, c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            ya, xa = oy * s[0] - p[0], ox * s[1] - p[1]
            yb, xb = min(ya + (k[0] - 1) * d[0] + 1, h), min(xa + (k[1] - 1) * d[1] + 1, w)
            while ya < 0:
                ya += d[0]
            while xa < 0:
                xa += d[1]
            rows, cols = np.arange(ya, yb, d[0]), np.arange(xa, xb, d[1])
            win = x[:, :, rows][:, :, :, cols].reshape(n, c, -1)
            j = win.argmax(-1)  # first maximum (no NaN in these inputs)
            y[:, :, oy, ox] = win.max(-1)
            at[:, :, oy, ox] = rows[j // len(cols)] * w + cols[j % len(cols)]
    return y, at


def avg_ref(x, k, s, p, ceil, count_pad):
    n, c, h, w = x.shape
    oh, ow = out_size(h, k[0], s[0], p[0], 1, ceil), out_size(w, k[1], s[1], p[1], 1, ceil)
    y = np.empty((n, c, oh, ow), np.float64)
    div = np.empty((oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            ya, xa = oy * s[0] - p[0], ox * s[1] - p[1]
            ye, xe = min(ya + k[0], h + p[0]), min(xa + k[1], w + p[1])
            size = (ye - ya) * (xe - xa)
            ya2, xa2, yb2, xb2 = max(ya, 0), max(xa, 0), min(ye, h), min(xe, w)
            if not count_pad:
                size = (yb2 - ya2) * (xb2 - xa2)
            div[oy, ox] = size
            y[:, :, oy, ox] = x[:, :, ya2:yb2, xa2:xb2].sum((2, 3)) / size
    return y, div


MAX_CASES = [  # k, s, p, d, ceil, (h, w)
    ((3, 3), (2, 2), (1, 1), (1, 1), True, (8, 7)),
    ((2, 2), (2, 2), (0, 0), (1, 1), True, (5, 5)),
    ((3, 3), (1, 1), (1, 1), (2, 2), False, (7, 9)),
    ((3, 2), (2, 3), (2, 1), (2, 3), True, (11, 13)),
    ((2, 2), (3, 3), (1, 1), (3, 2), True, (3, 2)),
    ((3, 3), (2, 2), (0, 0), (1, 1), True, (17, 19)),  # a lane chunk and a tail
]


@pytest.mark.parametrize("case", MAX_CASES)
def test_maxpool_dilation_ceil_mode(isa, case, rng):
    k, s, p, d, ceil, (h, w) = case
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    layer = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
    want, at = max_ref(x.astype(np.float64), k, s, p, d, ceil)
    y = layer(x)
    np.testing.assert_array_equal(y, want.astype(np.float32))
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g)
    ref = np.zeros((2 * 3, h * w))
    for r in range(6):
        np.add.at(ref[r], at.reshape(6, -1)[r], g.reshape(6, -1)[r])
    np.testing.assert_allclose(dx, ref.reshape(x.shape), rtol=1e-6, atol=1e-6)


AVG_CASES = [  # k, s, p, ceil, (h, w)
    ((3, 3), (2, 2), (1, 1), True, (8, 7)),
    ((3, 3), (2, 2), (1, 1), False, (8, 7)),
    ((2, 3), (2, 2), (1, 1), True, (5, 6)),
    ((3, 3), (3, 3), (0, 0), True, (10, 11)),
    ((1, 1), (2, 2), (0, 0), True, (4, 5)),
    ((3, 3), (1, 1), (1, 1), False, (1, 19)),
]


@pytest.mark.parametrize("count_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES)
def test_avgpool_ceil_mode_count_include_pad(isa, case, count_pad, rng):
    k, s, p, ceil, (h, w) = case
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    layer = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=count_pad)
    want, div = avg_ref(x.astype(np.float64), k, s, p, ceil, count_pad)
    y = layer(x)
    tol = np.finfo(np.float32).eps * k[0] * k[1] * 4 * np.abs(x).max()
    np.testing.assert_allclose(y, want, rtol=0, atol=tol)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g).astype(np.float64)
    # the adjoint: <avgpool(x'), g> == <x', dx> for any x'
    x2 = rng.standard_normal(x.shape)
    lhs = (avg_ref(x2, k, s, p, ceil, count_pad)[0] * g).sum()
    assert abs(lhs - (x2 * dx).sum()) < 1e-4 * (1 + abs(lhs))


def test_defaults_unchanged_and_config(tmp_path, rng):
    m = nn.Sequential(nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
                      nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), nn.MaxPool2d(2))
    assert m[2].get_config() == {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}
    assert "dilation=2, ceil_mode=True" in repr(m[0]) and "count_include_pad=False" in repr(m[1])
    x = rng.standard_normal((1, 2, 13, 12)).astype(np.float32)
    want = m(x)
    path = fastnn.save(m, tmp_path / "p.safetensors")
    np.testing.assert_array_equal(fastnn.load(path)(x), want)


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding .* must be at most half of kernel_size"):
        nn.MaxPool2d(2, padding=2, dilation=1)
    nn.MaxPool2d(2, padding=1, dilation=2)  # the dilated kernel spans 3: padding 1 is fine
    with pytest.raises(TypeError, match="ceil_mode: expected True or False"):
        nn.AvgPool2d(2, ceil_mode=1)
    with pytest.raises(TypeError, match="count_include_pad: expected True or False"):
        nn.AvgPool2d(2, count_include_pad="no")
    with pytest.raises(ValueError, match="divisor_override"):
        nn.AvgPool2d(2, divisor_override=3)
    with pytest.raises(ValueError, match="return_indices"):
        nn.MaxPool2d(2, return_indices=True)
    with pytest.raises(ValueError, match="larger than the padded input"):
        nn.MaxPool2d(3, dilation=3)(np.ones((1, 1, 5, 5), np.float32))
    # rows -1 and 2 of a 2-row input: the window holds only padding (PyTorch gives -inf there)
    with pytest.raises(ValueError, match="dilated window of output row 0 covers only padding"):
        nn.MaxPool2d(2, 3, padding=1, dilation=3)(np.ones((1, 1, 2, 4), np.float32))


def test_int8_keeps_ceil_mode_pool_in_float(rng):
    from fastnn import quant
    fastnn.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                      nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).eval()
    x = rng.standard_normal((8, 1, 7, 7)).astype(np.float32)
    q = quant.quantize(m, x, check_speed=False)
    got, want = q(x), m(x)
    assert got.shape == want.shape == (8, 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=0.1 * np.abs(want).max())


@pytest.mark.parametrize("ceil", [False, True])
def test_against_torch(torch, ceil, rng):
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 11, 10)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    for layer, ty in [
        (nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=ceil),
         F.max_pool2d(tx, 3, 2, 1, dilation=2, ceil_mode=ceil)),
        (nn.AvgPool2d(3, 2, 1, ceil_mode=ceil, count_include_pad=False),
         F.avg_pool2d(tx, 3, 2, 1, ceil_mode=ceil, count_include_pad=False)),
        (nn.AvgPool2d((2, 3), 2, 1, ceil_mode=ceil),
         F.avg_pool2d(tx, (2, 3), 2, 1, ceil_mode=ceil)),
    ]:
        y = layer(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
        g = rng.standard_normal(y.shape).astype(np.float32)
        tx.grad = None
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
