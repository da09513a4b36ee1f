"""LocalResponseNorm: forward against a numpy reference (PyTorch's formula), backward against
central differences of that reference, and both against torch.nn.LocalResponseNorm; 3-D, 4-D and
5-D inputs; window sizes 1, 2, 3, 4, 5 (even and odd), fewer channels than the window, batch 1,
odd spatial sizes; bad arguments; save/load, repr and get_config."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn


def lrn_ref(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch's definition in float64: window c - size//2 .. c + (size-1)//2, zero-padded."""
    x = np.asarray(x, np.float64)
    c = x.shape[1]
    sq = x ** 2
    s = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s[:, ch] = sq[:, lo:hi + 1].sum(axis=1)
    return x / (k + alpha / size * s) ** beta


SHAPES = [(2, 6, 5, 7), (1, 3, 3, 3), (1, 1, 2, 5), (3, 4, 9), (2, 5, 3, 2, 3), (2, 7, 1, 1)]
SIZES = [1, 2, 3, 4, 5]
# alpha large enough that the window's sum changes the output noticeably (PyTorch's default 1e-4
# would leave y ~ x / k**beta and hide a wrong window).
PARAMS = [(1e-4, 0.75, 1.0), (0.8, 0.75, 2.0), (1.5, 0.5, 0.7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("params", PARAMS)
def test_forward_matches_reference(shape, size, params, rng):
    alpha, beta, k = params
    x = (rng.standard_normal(shape) * 1.5).astype(np.float32)
    y = nn.LocalResponseNorm(size, alpha, beta, k)(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, lrn_ref(x, size, alpha, beta, k), rtol=2e-6, atol=1e-6)


def test_window_is_centred_like_pytorch():
    """One non-zero channel: the channels it reaches are exactly those whose window holds it."""
    x = np.zeros((1, 8, 1, 1), np.float32)
    x[0, 3] = 2.0
    for size in (2, 3, 4, 5):
        layer = nn.LocalResponseNorm(size, alpha=1.0, beta=1.0, k=1.0)
        layer(x)
        scale = layer._saved[1]
        reached = set(np.flatnonzero(scale.ravel() != 1.0))
        assert reached == set(range(3 - (size - 1) // 2, 3 + size // 2 + 1)), size


@pytest.mark.parametrize("shape", [(2, 6, 3, 3), (1, 2, 3, 5), (2, 5, 4)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_backward_matches_central_differences(shape, size, rng):
    alpha, beta, k = 0.9, 0.75, 1.5
    x = rng.standard_normal(shape).astype(np.float32)
    layer = nn.LocalResponseNorm(size, alpha, beta, k)
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g)
    eps = 1e-4
    x64 = x.astype(np.float64)
    num = np.zeros_like(x64)
    for idx in np.ndindex(*shape):
        xp, xm = x64.copy(), x64.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = ((lrn_ref(xp, size, alpha, beta, k) - lrn_ref(xm, size, alpha, beta, k))
                    * g).sum() / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES + [(1, 2, 33, 65)])
@pytest.mark.parametrize("size", SIZES)
def test_against_torch(torch, shape, size, rng):
    alpha, beta, k = 0.6, 0.75, 1.2
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.LocalResponseNorm(size, alpha, beta, k)(tx)
    layer = nn.LocalResponseNorm(size, alpha, beta, k)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(shape).astype(np.float32)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_torch_defaults(torch, rng):
    x = (rng.standard_normal((2, 16, 6, 6)) * 30).astype(np.float32)
    want = torch.nn.LocalResponseNorm(5)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(nn.LocalResponseNorm(5)(x), want, rtol=1e-5, atol=1e-5)


def test_in_a_sequential_trains(rng):
    m = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.LocalResponseNorm(3, alpha=0.5),
                      nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(6, 2))
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    y = m(x)
    m.zero_grad()
    dx = m.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.abs(m[0].weight.grad).sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="size: expected an int >= 1"):
        nn.LocalResponseNorm(0)
    with pytest.raises(TypeError, match="size: expected an int"):
        nn.LocalResponseNorm(2.5)
    for arg in ("alpha", "beta", "k"):
        for bad in (float("nan"), float("inf"), "1", True):
            with pytest.raises(ValueError, match=f"{arg}: expected a finite number"):
                nn.LocalResponseNorm(3, **{arg: bad})
    layer = nn.LocalResponseNorm(3)
    with pytest.raises(ValueError, match=r"input: expected a 3-D or higher array"):
        layer(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="input: expected a floating-point array"):
        layer(np.ones((2, 3, 4), np.int64))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.LocalResponseNorm(3).backward(np.ones((1, 3, 2), np.float32))
    layer(np.ones((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 3, 2, 2\)"):
        layer.backward(np.ones((1, 3, 2), np.float32))
    x = np.ones((1, 3, 2), np.float32)
    for kw, match in (({"size": 0}, "size: expected 1 <= size"),
                      ({"before": 3}, "before: expected 0 <= before < size"),
                      ({"before": -1}, "before: expected 0 <= before < size"),
                      ({"alpha": float("nan")}, "alpha: expected a finite number"),
                      ({"beta": float("inf")}, "beta: expected a finite number"),
                      ({"k": float("-inf")}, "k: expected a finite number")):
        args = dict(size=3, before=1, alpha=1e-4, beta=0.75, k=1.0)
        args.update(kw)
        with pytest.raises(ValueError, match=match):
            _C.lrn_forward(x, **args)
    _, scale = _C.lrn_forward(x, 3, 1, 1e-4, 0.75, 1.0)
    with pytest.raises(ValueError, match="scale"):
        _C.lrn_backward(x, x, scale[:, :2], 3, 1, 1e-4, 0.75, 1.0)
    with pytest.raises(ValueError, match="grad_output"):
        _C.lrn_backward(x[:, :2], x, scale, 3, 1, 1e-4, 0.75, 1.0)


def test_empty_batch():
    x = np.ones((0, 4, 3, 3), np.float32)
    layer = nn.LocalResponseNorm(3)
    assert layer(x).shape == x.shape
    assert layer.backward(x).shape == x.shape


def test_save_load_repr_config(tmp_path, rng):
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LocalResponseNorm(3, alpha=0.2, beta=0.6, k=2.0))
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    want = m(x)
    back = fastnn.load(fastnn.save(m, tmp_path / "lrn.safetensors"))
    np.testing.assert_array_equal(back(x), want)
    layer = m[1]
    assert repr(layer) == "LocalResponseNorm(3, alpha=0.2, beta=0.6, k=2.0)"
    assert layer.get_config() == {"size": 3, "alpha": 0.2, "beta": 0.6, "k": 2.0}
    assert list(layer.parameters()) == []
