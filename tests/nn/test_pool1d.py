"""MaxPool1d, AvgPool1d, the 1-D pads, GlobalMaxPool2d, AdaptiveAvg/MaxPool1d(1) and 2d(1) against
PyTorch (forward and input gradient) on every ISA path of the 2-D frames they run on; edge
shapes (L = 1, prime lengths, stride > kernel, dilation, ceil_mode, padding, batch 1, unbatched);
max and pads exact (a selection / copy), averages to float32 rounding of k terms; bad arguments;
save / load, repr and config."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

EPS = float(np.finfo(np.float32).eps)

MAX_CASES = [  # (kwargs, input shape)
    (dict(kernel_size=3), (2, 3, 10)),
    (dict(kernel_size=1), (1, 2, 1)),  # L = 1
    (dict(kernel_size=2, stride=3), (2, 3, 13)),  # stride > kernel, prime length
    (dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 10)),
    (dict(kernel_size=4, stride=1, padding=2), (1, 4, 3)),  # kernel > L with padding
    (dict(kernel_size=3, stride=2, ceil_mode=True), (3, 11)),  # unbatched
    (dict(kernel_size=5, stride=2, padding=2, dilation=3), (2, 8, 97)),
]
AVG_CASES = [
    (dict(kernel_size=3), (2, 3, 10)),
    (dict(kernel_size=1), (1, 2, 1)),
    (dict(kernel_size=2, stride=3), (2, 3, 13)),
    (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (2, 3, 10)),
    (dict(kernel_size=4, padding=2), (1, 4, 3)),
    (dict(kernel_size=4, padding=2, count_include_pad=False), (1, 4, 3)),
    (dict(kernel_size=3, stride=2, ceil_mode=True), (3, 11)),
    (dict(kernel_size=7, stride=3, padding=3, ceil_mode=True), (2, 8, 97)),
]


def _run(torch, rng, ours, theirs, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    dx = ours.backward(g)
    assert y.shape == tuple(yt.shape) and dx.shape == x.shape
    return y, yt.detach().numpy(), dx, xt.grad.numpy(), g


@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_maxpool1d_matches_torch(torch, isa, rng, case):
    kw, shape = case
    y, ty, dx, tdx, _ = _run(torch, rng, nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), shape)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(dx, tdx)


@pytest.mark.parametrize("case", AVG_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_avgpool1d_matches_torch(torch, isa, rng, case):
    kw, shape = case
    k = kw["kernel_size"]
    y, ty, dx, tdx, g = _run(torch, rng, nn.AvgPool1d(**kw), torch.nn.AvgPool1d(**kw), shape)
    np.testing.assert_allclose(y, ty, rtol=0, atol=2 * EPS * np.sqrt(k) * np.abs(ty).max() * k)
    np.testing.assert_allclose(dx, tdx, rtol=0, atol=2 * EPS * k * np.abs(g).max())


@pytest.mark.parametrize("cls", ["ZeroPad1d", "ConstantPad1d", "ReflectionPad1d",
                                 "ReplicationPad1d", "CircularPad1d"])
@pytest.mark.parametrize("padding,shape", [(2, (2, 3, 5)), ((0, 3), (1, 2, 4)), ((3, 1), (3, 7)),
                                           ((1, 0), (2, 1, 2))])
def test_pad1d_matches_torch(torch, rng, cls, padding, shape):
    args = (padding, 1.5) if cls == "ConstantPad1d" else (padding,)
    y, ty, dx, tdx, _ = _run(torch, rng, getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args),
                             shape)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, rtol=0, atol=8 * EPS * np.abs(tdx).max())


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (3, 4, 13, 1), (2, 2, 1, 17)])
def test_global_max_and_adaptive_match_torch(torch, isa, rng, shape):
    pairs = [(nn.GlobalMaxPool2d(keepdim=True), torch.nn.AdaptiveMaxPool2d(1)),
             (nn.AdaptiveMaxPool2d((1, 1)), torch.nn.AdaptiveMaxPool2d((1, 1))),
             (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1))]
    for ours, theirs in pairs:
        y, ty, dx, tdx, _ = _run(torch, rng, ours, theirs, shape)
        hw = shape[2] * shape[3]
        np.testing.assert_allclose(y, ty, rtol=0, atol=2 * EPS * np.sqrt(hw) * np.abs(ty).max())
        np.testing.assert_allclose(dx, tdx, rtol=0, atol=2 * EPS * np.abs(tdx).max())
    flat = nn.GlobalMaxPool2d()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(flat(x), x.max(axis=(2, 3)))
    g = rng.standard_normal(shape[:2]).astype(np.float32)
    dx = flat.backward(g)
    assert dx.shape == shape and np.array_equal(dx.sum(axis=(2, 3)), g)


@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 1, 1), (3, 4, 97), (5, 13)])
def test_adaptive_1d_match_torch(torch, isa, rng, shape):
    for cls in ("AdaptiveAvgPool1d", "AdaptiveMaxPool1d"):
        y, ty, dx, tdx, _ = _run(torch, rng, getattr(nn, cls)(1), getattr(torch.nn, cls)(1),
                                 shape)
        n = shape[-1]
        np.testing.assert_allclose(y, ty, rtol=0, atol=2 * EPS * np.sqrt(n) * np.abs(ty).max())
        np.testing.assert_allclose(dx, tdx, rtol=0, atol=2 * EPS * np.abs(tdx).max())


def test_global_max_nan_and_first_maximum():
    x = np.zeros((1, 2, 2, 3), np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 0, 2] = x[0, 1, 1, 0] = 5.0
    m = nn.GlobalMaxPool2d()
    y = m(x)
    assert np.isnan(y[0, 0]) and y[0, 1] == 5.0
    dx = m.backward(np.ones((1, 2), np.float32))
    assert dx[0, 1, 0, 2] == 1.0 and dx[0, 1, 1, 0] == 0.0


def test_bad_arguments():
    for cls in (nn.MaxPool1d, nn.AvgPool1d):
        name = cls.__name__
        with pytest.raises(ValueError, match=f"{name}: kernel_size: expected a value >= 1"):
            cls(0)
        with pytest.raises(TypeError, match=f"{name}: kernel_size: expected an int or a 1-tuple"):
            cls((2, 2))
        with pytest.raises(ValueError, match=f"{name}: stride: expected a value >= 1"):
            cls(2, 0)
        with pytest.raises(ValueError, match=f"{name}: padding 2 must be at most half of "
                                             "kernel_size 3"):
            cls(3, padding=2)
        with pytest.raises(TypeError, match=f"{name}: ceil_mode: expected True or False"):
            cls(2, ceil_mode=1)
        p = cls(4)
        with pytest.raises(ValueError, match=r"input of shape \(1, 2, 3\) .*kernel_size "
                                             r"\(1, 4\) is larger than the padded input \(1, 3\)"):
            p(np.ones((1, 2, 3), np.float32))
        with pytest.raises(ValueError, match=r"expected a 2-D or 3-D array \(N, C, L\)"):
            p(np.ones((1, 2, 3, 4), np.float32))
        with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
            cls(2).backward(np.ones((1, 1, 1), np.float32))
        p(np.ones((1, 2, 8), np.float32))
        with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 2, 2\)"):
            p.backward(np.ones((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"padding 2 must be at most half of kernel_size 2 "
                                         r"\(dilated: 3\)"):
        nn.MaxPool1d(2, padding=2, dilation=2)
    with pytest.raises(ValueError, match="return_indices=True is not supported"):
        nn.MaxPool1d(2, return_indices=True)
    with pytest.raises(TypeError, match="count_include_pad: expected True or False"):
        nn.AvgPool1d(2, count_include_pad=None)
    for cls in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        for bad in (2, (1, 2), None, True):
            with pytest.raises(ValueError, match=r"output_size: only 1 or \(1, 1\) is supported"):
                cls(bad)
    for cls in (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d):
        for bad in (2, (1, 1), 0, True):
            with pytest.raises(ValueError, match=r"output_size: only 1 is supported"):
                cls(bad)
        with pytest.raises(ValueError, match="expected a non-empty length L"):
            cls(1)(np.ones((2, 3, 0), np.float32))
    with pytest.raises(ValueError, match="return_indices=True is not supported"):
        nn.AdaptiveMaxPool1d(1, return_indices=True)
    with pytest.raises(ValueError, match=r"expected a 4-D array"):
        nn.GlobalMaxPool2d()(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="expected a non-empty H x W plane"):
        nn.GlobalMaxPool2d()(np.ones((2, 3, 0, 4), np.float32))
    with pytest.raises(TypeError, match=r"ZeroPad1d: padding: expected an int or 2 ints"):
        nn.ZeroPad1d((1, 2, 3))
    with pytest.raises(ValueError, match=r"ZeroPad1d: padding: expected values >= 0"):
        nn.ZeroPad1d(-1)
    with pytest.raises(ValueError, match="reflect padding 3 must be smaller than the input "
                                         "length 3"):
        nn.ReflectionPad1d(3)(np.ones((1, 2, 3), np.float32))


def test_save_load_repr_config(tmp_path, rng):
    m = nn.Sequential(nn.ReflectionPad1d((1, 2)), nn.MaxPool1d(3, 2, 1, dilation=2,
                                                               ceil_mode=True),
                      nn.ConstantPad1d(1, -0.5), nn.AvgPool1d(2, count_include_pad=False),
                      nn.ZeroPad1d((0, 1)), nn.ReplicationPad1d(2))
    x = rng.standard_normal((2, 3, 19)).astype(np.float32)
    want = m(x)
    back = fastnn.load(fastnn.save(m, tmp_path / "p1.safetensors"))
    np.testing.assert_array_equal(back(x), want)
    assert repr(m[1]) == "MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)"
    assert m[1].get_config() == {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                                 "ceil_mode": True}
    assert m[3].get_config() == {"kernel_size": 2, "stride": 2, "padding": 0,
                                 "count_include_pad": False}
    assert repr(m[2]) == "ConstantPad1d(padding=(1, 1), value=-0.5)"
    assert m[0].get_config() == {"padding": [1, 2]}
    g = nn.Sequential(nn.Conv2d(2, 3, 3), nn.GlobalMaxPool2d(), nn.Linear(3, 2))
    a = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d(1), nn.Flatten())
    a1 = nn.Sequential(nn.Conv1d(2, 3, 2), nn.AdaptiveMaxPool1d(1), nn.AdaptiveAvgPool1d(1))
    x3 = rng.standard_normal((2, 2, 6)).astype(np.float32)
    back = fastnn.load(fastnn.save(a1, tmp_path / "a1.safetensors"))
    np.testing.assert_array_equal(back(x3), a1(x3))
    assert repr(a1[1]) == "AdaptiveMaxPool1d(output_size=1)"
    x4 = rng.standard_normal((2, 2, 6, 5)).astype(np.float32)
    for mod in (g, a):
        back = fastnn.load(fastnn.save(mod, tmp_path / "g.safetensors"))
        np.testing.assert_array_equal(back(x4), mod(x4))
    assert repr(a[0]) == "AdaptiveAvgPool2d(output_size=1)"
