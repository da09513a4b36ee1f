"""clip_grad_norm_ / clip_grad_value_ against numpy (float64) and torch, on every ISA path."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import optim
from fastnn.nn import Parameter
from tests.reference import EPS32

SHAPES = [(1,), (17,), (33, 5), (3, 4, 3, 3), (200, 101)]


def make(rng, shapes=SHAPES, scale=1.0):
    ps = [Parameter(np.zeros(s, np.float32)) for s in shapes]
    for p in ps:
        p.grad[...] = rng.standard_normal(p.shape) * scale
    return ps


def ref_norm(grads, p):
    flat = np.concatenate([g.astype(np.float64).ravel() for g in grads])
    if math.isinf(p):
        return np.abs(flat).max()
    return (np.abs(flat) ** p).sum() ** (1.0 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_vs_numpy(isa, rng, norm_type, max_norm):
    ps = make(rng)
    grads = [p.grad.copy() for p in ps]
    want = ref_norm(grads, norm_type)
    total = optim.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    n = sum(g.size for g in grads)
    assert abs(total - want) <= 8 * EPS32 * math.sqrt(n) * want
    coef = min(max_norm / (want + 1e-6), 1.0)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad, g * coef, rtol=8 * EPS32 * math.sqrt(n), atol=0)
    if coef < 1:
        assert abs(optim.grad_norm(ps, norm_type) - max_norm) <= 1e-4 * max_norm


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_vs_torch(torch, rng, norm_type):
    ps = make(rng, scale=3.0)
    ts = [torch.zeros(p.shape, requires_grad=True) for p in ps]
    for p, t in zip(ps, ts):
        t.grad = torch.from_numpy(p.grad.copy())
    want = float(torch.nn.utils.clip_grad_norm_(ts, 2.0, norm_type=norm_type))
    got = optim.clip_grad_norm_(ps, 2.0, norm_type=norm_type)
    assert abs(got - want) <= 1e-5 * want
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_vs_numpy_and_torch(torch, isa, rng):
    ps = make(rng, scale=2.0)
    grads = [p.grad.copy() for p in ps]
    grads[2][0, 0] = np.nan
    ps[2].grad[0, 0] = np.nan
    optim.clip_grad_value_(ps, 0.7)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad, np.clip(g, -0.7, 0.7))  # NaN stays NaN
    t = torch.zeros(grads[2].shape, requires_grad=True)
    t.grad = torch.from_numpy(grads[2].copy())
    torch.nn.utils.clip_grad_value_([t], 0.7)
    np.testing.assert_array_equal(ps[2].grad, t.grad.numpy())


def test_frozen_params_are_skipped(rng):
    ps = make(rng, scale=5.0)
    ps[1].requires_grad = False
    frozen = ps[1].grad.copy()
    want = ref_norm([p.grad for i, p in enumerate(ps) if i != 1], 2.0)
    total = optim.clip_grad_norm_(ps, 1.0)
    assert abs(total - want) <= 1e-5 * want
    np.testing.assert_array_equal(ps[1].grad, frozen)
    optim.clip_grad_value_(ps, 0.1)
    np.testing.assert_array_equal(ps[1].grad, frozen)


def test_single_parameter_and_empty(rng):
    p = make(rng, [(10,)])[0]
    g = p.grad.copy()
    total = optim.clip_grad_norm_(p, 1e9)
    assert abs(total - np.linalg.norm(g.astype(np.float64))) < 1e-5 * total
    assert optim.clip_grad_norm_([], 1.0) == 0.0


def test_same_bits_for_any_thread_count(rng, threads):
    base = make(rng, [(300, 300), (1000,), (70000,)])
    results = []
    for nt in (1, 2, 3):
        fastnn.set_num_threads(nt)
        ps = [Parameter(np.zeros(p.shape, np.float32)) for p in base]
        for p, b in zip(ps, base):
            p.grad[...] = b.grad
        results.append((optim.clip_grad_norm_(ps, 1.0), [p.grad.copy() for p in ps]))
    for total, grads in results[1:]:
        assert total == results[0][0]
        for a, b in zip(grads, results[0][1]):
            np.testing.assert_array_equal(a, b)


def test_nonfinite(rng):
    ps = make(rng, [(5,), (9,)])
    ps[1].grad[3] = np.inf
    before = [p.grad.copy() for p in ps]
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad, b)
    ps[1].grad[3] = np.nan
    assert math.isnan(optim.clip_grad_norm_(ps, 1.0, norm_type="inf"))


@pytest.mark.parametrize("call,match", [
    (lambda ps: optim.clip_grad_norm_(ps, -1.0), "max_norm"),
    (lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type=0.0), "norm_type"),
    (lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type=-2), "norm_type"),
    (lambda ps: optim.clip_grad_value_(ps, -0.5), "clip_value"),
])
def test_bad_input(rng, call, match):
    ps = make(rng, [(4,)])
    before = ps[0].grad.copy()
    with pytest.raises(ValueError, match=match):
        call(ps)
    np.testing.assert_array_equal(ps[0].grad, before)
    with pytest.raises(TypeError, match="max_norm"):
        optim.clip_grad_norm_(ps, "big")
    with pytest.raises(TypeError, match="Parameter"):
        optim.clip_grad_norm_([np.ones(3, np.float32)], 1.0)
