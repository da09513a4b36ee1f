"""Raw kernels of hardtanh, hardsigmoid, hardswish, softplus, softsign (unary codes 8..12),
log-softmax rows and PReLU (runs and rows) against float64 references on every ISA path:
accuracy over dense sweeps, every tail length, NaN/Inf as PyTorch, PyTorch's branch points, the
constants' checks, and the PReLU slope gradient's thread independence."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference_layers import EPS32, TINY32, sigmoid64

CODES = {n: getattr(_C.Unary, n) for n in ("hardtanh", "hardsigmoid", "hardswish", "softplus",
                                          "softsign")}
SIXTH = float(np.float32(1 / 6))
# (param, param2) per case; float32-representable so the reference sees the kernel's constants
PARAMS = {"hardtanh": [(-1.0, 1.0), (0.0, 6.0), (-2.5, 0.75)],
          "hardsigmoid": [(SIXTH, 0.5), (0.2, 0.5), (-0.5, 0.25)],
          "hardswish": [(0.0, 0.0)],
          "softplus": [(1.0, 20.0), (2.0, 5.0), (0.5, 1.0), (-1.5, 20.0)],
          "softsign": [(0.0, 0.0)]}
CASES = [(name, p) for name, ps in PARAMS.items() for p in ps]
SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1000]


def ref64(name, x, p):
    """f(x) in float64 from float32 x and the float32 constants p = (param, param2)."""
    x = np.asarray(x, np.float64)
    a, b = p
    if name == "hardtanh":
        return np.clip(x, a, b)
    if name == "hardsigmoid":
        return np.clip(a * x + b, 0.0, 1.0)
    if name == "hardswish":
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if name == "softplus":  # PyTorch: x itself where (float32) beta * x > threshold
        # beta * x rounded to float32 as PyTorch (and the kernel) form it: its rounding error,
        # amplified by |beta x| through exp, is the input's, not the kernel's
        bx = (np.float32(a) * x.astype(np.float32)).astype(np.float64)
        above = bx > np.float32(b)
        return np.where(above, x, (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / a)
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    raise ValueError(name)


def grad64(name, x, p):
    x = np.asarray(x, np.float64)
    a, b = p
    if name == "hardtanh":
        return ((x > a) & (x < b)).astype(np.float64)
    if name == "hardsigmoid":
        t = a * x + b
        return np.where((t > 0) & (t < 1), a, 0.0)
    if name == "hardswish":  # PyTorch's branches: 0 at -3, 1 at 3
        return np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))
    if name == "softplus":
        bx = (np.float32(a) * x.astype(np.float32)).astype(np.float64)  # as ref64
        return np.where(bx > np.float32(b), 1.0, sigmoid64(bx))
    if name == "softsign":
        return 1.0 / (1.0 + np.abs(x)) ** 2
    raise ValueError(name)


def sweep():
    rng = np.random.default_rng(3)
    parts = [np.linspace(-30, 30, 30001), rng.standard_normal(4000) * 4,
             np.geomspace(1e-30, 1.0, 400), -np.geomspace(1e-30, 1.0, 400),
             np.linspace(-100, 100, 2001), [0.0, -0.0, 3.0, -3.0, 6.0, 1.0, -1.0, 20.0]]
    return np.concatenate(parts).astype(np.float32)


def tol(name, x, want):
    # the float32 rounding of each step: a few eps of the result, plus (hardsigmoid, hardswish:
    # a x + b and x + 3 cancel near the kinks) a few eps of the input's own scale
    xs = np.abs(np.asarray(x, np.float64))
    k = {"hardtanh": 0, "hardsigmoid": 1, "hardswish": 3, "softplus": 4, "softsign": 2}[name]
    lin = {"hardsigmoid": 1.0, "hardswish": 3.0}.get(name, 0.0)
    return k * EPS32 * (np.abs(want) + lin * (xs + 1.0) * (xs < 4)) + TINY32 * (k > 0)


@pytest.mark.parametrize("name,p", CASES)
def test_forward_accuracy(isa, name, p):
    x = sweep()
    got = _C.unary_forward(x, CODES[name], p[0], param2=p[1])
    want = ref64(name, x, p)
    assert got.dtype == np.float32 and got.shape == x.shape
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= tol(name, x, want)), (name, p, x[np.argmax(err - tol(name, x, want))])


@pytest.mark.parametrize("name,p", CASES)
def test_backward_accuracy(isa, rng, name, p):
    x = sweep()
    g = rng.standard_normal(x.size).astype(np.float32)
    y = _C.unary_forward(x, CODES[name], p[0], param2=p[1])
    assert _C.unary_backward_needs_input(CODES[name], p[0])
    got = _C.unary_backward(x, y, g, CODES[name], p[0], param2=p[1])
    want = g * grad64(name, x, p)
    # hardswish's x/3 + 1/2 cancels near x = -3/2: a few eps of its terms' size
    terms = np.abs(g) * (np.abs(x) / 3 + 0.5) if name == "hardswish" else np.abs(want)
    np.testing.assert_array_less(np.abs(got - want), 6 * EPS32 * terms + TINY32,
                                 err_msg=f"{name} {p}")


@pytest.mark.parametrize("name,p", [(n, ps[-1]) for n, ps in PARAMS.items()])
@pytest.mark.parametrize("n", SIZES)
def test_tails(isa, rng, name, p, n):
    # Every length: the masked tail computes exactly what full vectors compute, both directions.
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    code = CODES[name]
    y = _C.unary_forward(x, code, p[0], param2=p[1])
    big = _C.unary_forward(np.tile(x, 3), code, p[0], param2=p[1])
    np.testing.assert_array_equal(y, big[:n])
    np.testing.assert_array_equal(y, big[n:2 * n])
    dx = _C.unary_backward(x, y, g, code, p[0], param2=p[1])
    dbig = _C.unary_backward(np.tile(x, 3), big, np.tile(g, 3), code, p[0], param2=p[1])
    np.testing.assert_array_equal(dx, dbig[n:2 * n])
    np.testing.assert_allclose(y, ref64(name, x, p), rtol=4 * EPS32, atol=8 * EPS32)


def test_nan_inf_as_torch(isa):
    x = np.array([np.nan, np.inf, -np.inf, 2.0], np.float32)
    g = np.ones(4, np.float32)
    # as PyTorch 2.x: hardswish(-inf) = -inf * 0 and softsign(+-inf) = inf / inf are NaN
    limits = {"hardtanh": [6.0, 0.0], "hardsigmoid": [1.0, 0.0], "hardswish": [np.inf, np.nan],
              "softplus": [np.inf, 0.0], "softsign": [np.nan, np.nan]}
    # PyTorch's backward at NaN: hardtanh and hardswish pass the gradient, the others do not
    # propagate a number (hardsigmoid 0, softplus/softsign NaN)
    grad_at_nan = {"hardtanh": 1.0, "hardsigmoid": 0.0, "hardswish": 1.0}
    for name, p in [("hardtanh", (0.0, 6.0)), ("hardsigmoid", (SIXTH, 0.5)),
                    ("hardswish", (0, 0)), ("softplus", (1.0, 20.0)), ("softsign", (0, 0))]:
        y = _C.unary_forward(x, CODES[name], p[0], param2=p[1])
        assert np.isnan(y[0]), name
        np.testing.assert_array_equal(y[1:3], np.float32(limits[name]), err_msg=name)
        dx = _C.unary_backward(x, y, g, CODES[name], p[0], param2=p[1])
        if name in grad_at_nan:
            assert dx[0] == grad_at_nan[name], name
        else:
            assert np.isnan(dx[0]), name


def test_branch_points_match_torch(isa, torch):
    # Exactly at and next to PyTorch's kinks: its forward values and its branch choices.
    F = torch.nn.functional
    pts = []
    for k in (-3.0, 3.0, 0.0, 6.0, -1.0, 1.0, 20.0):
        k32 = np.float32(k)
        pts += [np.nextafter(k32, np.float32(-np.inf)), k32, np.nextafter(k32, np.float32(np.inf))]
    x = np.array(pts, np.float32)
    g = np.linspace(0.5, 1.5, x.size).astype(np.float32)
    cases = [("hardtanh", (-1.0, 1.0), lambda t: F.hardtanh(t)),
             ("hardtanh", (0.0, 6.0), lambda t: F.relu6(t)),
             ("hardsigmoid", (SIXTH, 0.5), lambda t: F.hardsigmoid(t)),
             ("hardswish", (0, 0), lambda t: F.hardswish(t)),
             ("softplus", (1.0, 20.0), lambda t: F.softplus(t))]
    for name, p, f in cases:
        xt = torch.tensor(x, requires_grad=True)
        yt = f(xt)
        yt.backward(torch.tensor(g))
        y = _C.unary_forward(x, CODES[name], p[0], param2=p[1])
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=2 * EPS32, atol=2 * EPS32,
                                   err_msg=name)
        dx = _C.unary_backward(x, y, g, CODES[name], p[0], param2=p[1])
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=4 * EPS32, atol=0, err_msg=name)


def test_constants_checked():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="min_val must be <= max_val"):
        _C.unary_forward(x, CODES["hardtanh"], 2.0, param2=1.0)
    with pytest.raises(ValueError, match="max_val must not be NaN"):
        _C.unary_forward(x, CODES["hardtanh"], 0.0, param2=float("nan"))
    with pytest.raises(ValueError, match="beta must be nonzero"):
        _C.unary_forward(x, CODES["softplus"], 0.0, param2=20.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        _C.unary_backward(x, x, x, CODES["softplus"], 1.0, param2=float("inf"))
    with pytest.raises(ValueError, match="alpha must be finite"):
        _C.unary_forward(x, CODES["hardsigmoid"], float("inf"), param2=0.5)
    with pytest.raises(ValueError, match="got the value 64"):
        _C.unary_forward(x, _C.Unary(64))
    with pytest.raises(ValueError, match="needs the input"):
        _C.unary_backward(None, x, x, CODES["softsign"])


def test_stats_accumulated(isa, rng):
    # Diagnostics' accumulator is filled by these codes too: [count, sum, sum of squares,
    # positives per channel] of the output forward, of the input gradient backward.
    x = (rng.standard_normal((4, 3, 5)) * 4).astype(np.float32)
    for name, p in CASES:
        acc = np.zeros(3 + 3)
        y = _C.unary_forward(x, CODES[name], p[0], stats=acc, param2=p[1])
        y64 = y.astype(np.float64)
        np.testing.assert_allclose(acc[:3], [y.size, y64.sum(), (y64 ** 2).sum()], rtol=1e-5,
                                   atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(acc[3:], (y > 0).sum(axis=(0, 2)))
        acc = np.zeros(3 + 3)
        dx = _C.unary_backward(x, y, np.ones_like(x), CODES[name], p[0], stats=acc, param2=p[1])
        np.testing.assert_allclose(acc[1], dx.astype(np.float64).sum(), rtol=1e-5, atol=1e-5)


def test_hardsigmoid_zero_alpha_is_constant(isa):
    x = np.linspace(-5, 5, 11).astype(np.float32)
    y = _C.unary_forward(x, CODES["hardsigmoid"], 0.0, param2=0.3)
    np.testing.assert_array_equal(y, np.full(11, 0.3, np.float32))
    dx = _C.unary_backward(x, y, np.ones(11, np.float32), CODES["hardsigmoid"], 0.0, param2=0.3)
    np.testing.assert_array_equal(dx, np.zeros(11, np.float32))


# ---- log-softmax ----------------------------------------------------------------------------------
def log_softmax64(x, dim):
    x = np.asarray(x, np.float64)
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


@pytest.mark.parametrize("shape,dim", [((5, 1), 1), ((5, 7), 1), ((3, 8), 1), ((4, 9), 1),
                                       ((2, 17), -1), ((3, 33), 1), ((2, 1000), 1),
                                       ((3, 5, 4, 7), 1), ((2, 3, 70), 1), ((9, 4), 0),
                                       ((2, 3, 4), -1), ((1, 1), 0)])
def test_log_softmax(isa, rng, shape, dim):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    y = _C.log_softmax_forward(x, dim)
    want = log_softmax64(x, dim)
    # x - max is exact-ish; log(sum) carries a few eps of its own size
    scale = np.abs(x - x.max(axis=dim, keepdims=True)) + np.abs(want) + 1.0
    assert np.all(np.abs(y - want) <= 4 * EPS32 * scale)
    g = rng.standard_normal(shape).astype(np.float32)
    dx = _C.log_softmax_backward(y, g, dim)
    want_dx = g - np.exp(want) * g.astype(np.float64).sum(axis=dim, keepdims=True)
    n = shape[dim]
    np.testing.assert_allclose(dx, want_dx, rtol=0,
                               atol=8 * EPS32 * np.sqrt(n) * (np.abs(g).max() * n))


def test_log_softmax_large_logits_and_nan(isa):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e30, 0.0, 1e30], [np.nan, 1.0, 2.0]], np.float32)
    y = _C.log_softmax_forward(x, 1)
    np.testing.assert_allclose(y[0], log_softmax64(x[:1], 1)[0], rtol=4 * EPS32)
    np.testing.assert_array_equal(y[1], np.float32([-1e30 - 1e30, -1e30, 0.0]))
    assert np.all(np.isnan(y[2]))
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        _C.log_softmax_forward(np.ones((2, 3), np.float32), 2)


# ---- PReLU ----------------------------------------------------------------------------------------
def prelu64(x, w):
    x = np.asarray(x, np.float64)
    ws = np.asarray(w, np.float64).reshape((-1,) + (1,) * (x.ndim - 2)) if w.size > 1 else w[0]
    return np.where(x > 0, x, ws * x)


def prelu_grads64(x, w, g):
    x64, g64 = np.asarray(x, np.float64), np.asarray(g, np.float64)
    ws = np.asarray(w, np.float64).reshape((-1,) + (1,) * (x.ndim - 2)) if w.size > 1 else w[0]
    dx = np.where(x64 > 0, g64, ws * g64)
    t = np.where(x64 > 0, 0.0, x64 * g64)
    dw = t.sum() if w.size == 1 else t.swapaxes(0, 1).reshape(w.size, -1).sum(axis=1)
    return dx, np.atleast_1d(dw), np.atleast_1d(np.abs(t).sum() if w.size == 1 else
                                                np.abs(t).swapaxes(0, 1).reshape(w.size, -1).sum(1))


@pytest.mark.parametrize("shape,nw", [((1, 1), 1), ((3, 7), 7), ((2, 4, 8), 4), ((2, 3, 9), 3),
                                      ((2, 2, 17), 2), ((1, 3, 33), 3), ((2, 3, 1000), 3),
                                      ((2, 5, 3, 3), 5), ((4, 6, 5, 7), 1), ((7,), 1),
                                      ((1, 2, 70000), 2), ((2, 3, 0), 3), ((3000, 3, 5), 3),
                                      ((1100, 33), 33)])
def test_prelu(isa, rng, shape, nw):
    # Planes of >= 64 elements run one slope per run; shorter ones ((N, C), (N, C, small L)) the
    # rows leaves with a slope per column, several row blocks for the last two shapes.
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    x.reshape(-1)[::5] = 0.0  # the branch point: the slope side, as PyTorch
    w = rng.uniform(-0.5, 0.5, nw).astype(np.float32)
    y = _C.prelu_forward(x, w)
    np.testing.assert_allclose(y, prelu64(x, w), rtol=EPS32 / 2, atol=0)
    g = rng.standard_normal(shape).astype(np.float32)
    wg = np.full(nw, 0.5, np.float32)  # accumulated into
    dx = _C.prelu_backward(x, w, g, wg)
    dx64, dw64, dw_abs = prelu_grads64(x, w, g)
    np.testing.assert_allclose(dx, dx64, rtol=EPS32 / 2, atol=0)
    per_slope = x.size / nw
    np.testing.assert_allclose(wg, 0.5 + dw64, rtol=0,
                               atol=4 * EPS32 * np.sqrt(per_slope) * (dw_abs.max() + 1))
    # without a weight gradient: the same input gradient
    np.testing.assert_array_equal(_C.prelu_backward(x, w, g), dx)


@pytest.mark.parametrize("shape", [(3, 2, 100003), (5000, 2, 20)])  # runs; row blocks
def test_prelu_thread_independent(rng, threads, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w = np.float32([0.1, -0.2])
    outs = []
    for t in (1, 2, 3):
        fastnn.set_num_threads(t)
        wg = np.zeros(2, np.float32)
        dx = _C.prelu_backward(x, w, g, wg)
        outs.append((wg, dx, _C.prelu_forward(x, w)))
    for wg, dx, y in outs[1:]:
        np.testing.assert_array_equal(wg, outs[0][0])
        np.testing.assert_array_equal(dx, outs[0][1])
        np.testing.assert_array_equal(y, outs[0][2])


def test_prelu_errors():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"input: expected 4 channels on axis 1"):
        _C.prelu_forward(x, np.ones(4, np.float32), "PReLU(num_parameters=4)")
    with pytest.raises(ValueError, match=r"input: expected 3 channels"):
        _C.prelu_forward(np.ones(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"weight: expected a 1-D array"):
        _C.prelu_forward(x, np.ones((3, 1), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape"):
        _C.prelu_backward(x, np.ones(3, np.float32), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"weight.grad"):
        _C.prelu_backward(x, np.ones(3, np.float32), x, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match=r"weight.grad"):  # never a silent converted copy
        _C.prelu_backward(x, np.ones(3, np.float32), x, np.zeros(3, np.float64))
