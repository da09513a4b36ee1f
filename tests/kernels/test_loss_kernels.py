"""Raw loss kernels (cross-entropy with fused log-softmax, MSE, Huber, BCE-with-logits) against
float64 references on every ISA path."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference_layers import EPS32, cross_entropy64, log_softmax64, pointwise64

REDUCTIONS = ["mean", "sum", "none"]


def ce_grad64(logits, target, weight, eps, reduction):
    """Analytic d loss / d logits of the PyTorch definition, float64."""
    x = np.asarray(logits, np.float64)
    n, c = x.shape
    p = np.exp(log_softmax64(x))
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    onehot = np.eye(c)[target]
    wt = w[target][:, None]
    g = (1 - eps) * wt * (p - onehot) + eps / c * (w.sum() * p - w)
    if reduction == "mean":
        g /= w[target].sum()
    return g


def ce_case(rng, n, c, weighted, scale=3.0):
    x = (rng.standard_normal((n, c)) * scale).astype(np.float32)
    t = rng.integers(0, c, n)
    w = rng.uniform(0.2, 2.0, c).astype(np.float32) if weighted else None
    return x, t, w


@pytest.mark.parametrize("n,c", [(1, 1), (1, 2), (5, 10), (17, 33), (64, 10), (3, 1000)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy(isa, rng, n, c, weighted, eps):
    x, t, w = ce_case(rng, n, c, weighted)
    for red in REDUCTIONS:
        value, lse = _C.cross_entropy_forward(x, t, w, eps, red)
        want = cross_entropy64(x, t, w, eps, red)
        # per row: a log-sum-exp of c terms and (with smoothing) a sum of c non-negative terms
        tol = 8 * EPS32 * np.sqrt(c) * (np.abs(x).max() + np.log(c) + 1)
        np.testing.assert_allclose(value, want, rtol=tol, atol=tol)
        dx = _C.cross_entropy_backward(x, t, w, eps, red, lse)
        gw = ce_grad64(x, t, w, eps, red)
        # terms of the gradient are up to s * max(w) (s = 1 / sum of target weights for mean)
        wmax = 1.0 if w is None else float(w.max())
        s = 1.0 / (n * 1.0 if w is None else float(w[t].sum())) if red == "mean" else 1.0
        np.testing.assert_allclose(dx, gw, rtol=0, atol=4 * tol * s * wmax)


def test_cross_entropy_none_upstream_grad(isa, rng):
    x, t, w = ce_case(rng, 9, 7, True)
    _, lse = _C.cross_entropy_forward(x, t, w, 0.2, "none")
    g = rng.standard_normal(9).astype(np.float32)
    dx = _C.cross_entropy_backward(x, t, w, 0.2, "none", lse, g)
    np.testing.assert_allclose(dx, g[:, None] * ce_grad64(x, t, w, 0.2, "none"), atol=1e-5)


def test_cross_entropy_large_logits(isa):
    x = np.array([[1e4, 0.0, -1e4], [88.0, 89.0, 90.0], [-1e30, 1e30, 0.0]], np.float32)
    t = np.array([0, 2, 0])
    value, _ = _C.cross_entropy_forward(x, t, None, 0.0, "none")
    want = cross_entropy64(x, t, reduction="none")
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, want, rtol=1e-6)


def test_cross_entropy_thread_independent(rng, threads):
    x, t, w = ce_case(rng, 3000, 10, True)
    vals = []
    for k in (1, 2, 3):
        fastnn.set_num_threads(k)
        vals.append(_C.cross_entropy_forward(x, t, w, 0.1, "mean")[0])
    assert vals[0] == vals[1] == vals[2]


def test_cross_entropy_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"class index 3 at position 2 is out of range \[0, 3\)"):
        _C.cross_entropy_forward(x, np.array([0, 1, 3, 0]), None, 0.0, "mean")
    with pytest.raises(ValueError, match="class index -1"):
        _C.cross_entropy_forward(x, np.array([0, -1, 2, 0]), None, 0.0, "mean")
    with pytest.raises(ValueError, match=r"target: expected shape \(4,\), got \(4, 1\)"):
        _C.cross_entropy_forward(x, np.zeros((4, 1), np.int64), None, 0.0, "mean")
    with pytest.raises(TypeError, match="integer class indices"):
        _C.cross_entropy_forward(x, np.zeros(4, np.float32), None, 0.0, "mean")
    with pytest.raises(ValueError, match=r"weight: expected shape \(3,\)"):
        _C.cross_entropy_forward(x, np.zeros(4, np.int64), np.ones(4, np.float32), 0.0, "mean")
    with pytest.raises(ValueError, match="reduction"):
        _C.cross_entropy_forward(x, np.zeros(4, np.int64), None, 0.0, "avg")
    with pytest.raises(ValueError, match=r"input: expected shape \(N, C\)"):
        _C.cross_entropy_forward(np.zeros(4, np.float32), np.zeros(4, np.int64), None, 0.0, "mean")


# ---- pointwise ---------------------------------------------------------------------------------
KINDS = {"mse": _C.PointwiseLossKind.mse, "huber": _C.PointwiseLossKind.huber,
         "bce": _C.PointwiseLossKind.bce_logits}


def pw_grad64(kind, x, t, w, pw, delta):
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    d = x - t
    if kind == "mse":
        g = 2 * d
    elif kind == "huber":
        g = np.clip(d, -delta, delta)
    else:
        p = 1.0 if pw is None else np.asarray(pw, np.float64)
        g = (1 + (p - 1) * t) / (1 + np.exp(-x)) - p * t
    return g if w is None else g * w


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("shape", [(1,), (7,), (5, 3), (33, 17)])
def test_pointwise(isa, rng, kind, shape):
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = rng.uniform(0, 1, shape).astype(np.float32) if kind == "bce" else \
        rng.standard_normal(shape).astype(np.float32)
    w = rng.uniform(0.5, 2, shape).astype(np.float32) if kind == "bce" else None
    pw = rng.uniform(0.5, 3, shape[-1]).astype(np.float32) if kind == "bce" else None
    delta = 0.7
    n = x.size
    for red in REDUCTIONS:
        got = _C.pointwise_loss_forward(KINDS[kind], x, t, w, pw, delta, red)
        want = pointwise64(kind, x, t, w, pw, delta, red)
        np.testing.assert_allclose(got, want, rtol=16 * EPS32, atol=16 * EPS32)
        dx = _C.pointwise_loss_backward(KINDS[kind], x, t, w, pw, delta, red)
        div = n if red == "mean" else 1
        gw = pw_grad64(kind, x, t, w, pw, delta) / div
        # BCE's gradient lw sigmoid(x) - pw t cancels (in PyTorch too): bound by its terms
        terms = np.abs(x - t) + 1 if kind != "bce" else (1 + np.abs(pw)) * (1 + np.abs(t)) * w
        np.testing.assert_allclose(dx, gw, rtol=0, atol=16 * EPS32 * terms.max() / div)


def test_bce_extreme_logits_stable():
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], np.float32)
    t = np.array([1.0, 1.0, 0.5, 0.0, 0.0], np.float32)
    got = _C.pointwise_loss_forward(KINDS["bce"], x, t, None, None, 1.0, "none")
    np.testing.assert_allclose(got, pointwise64("bce", x, t, reduction="none"), rtol=1e-6)


def test_pointwise_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"target: expected shape \(4, 3\), got \(4,\)"):
        _C.pointwise_loss_forward(KINDS["mse"], x, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"pos_weight: expected shape \(3,\)"):
        _C.pointwise_loss_forward(KINDS["bce"], x, x, None, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="kind: expected a fastnn._C.PointwiseLossKind, got .* 7"):
        _C.pointwise_loss_forward(_C.PointwiseLossKind(7), x, x)
    with pytest.raises(TypeError, match="kind"):  # integer codes are no longer accepted
        _C.pointwise_loss_forward(0, x, x)
