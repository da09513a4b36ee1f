"""Dropout: statistics (kept fraction within binomial bounds, scaling), eval identity, p = 0,
validation, seeding reproducibility across thread counts, backward with the forward's mask."""
import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_statistics(isa, p):
    fastnn.manual_seed(11)
    n = 200_000
    x = np.ones((400, 500), np.float32)
    y = nn.Dropout(p)(x)
    kept = y != 0
    # kept count ~ Binomial(n, 1 - p): 6 standard deviations
    assert abs(kept.sum() - n * (1 - p)) < 6 * math.sqrt(n * p * (1 - p))
    np.testing.assert_array_equal(y[kept], np.float32(1 / (1 - p)))
    # no structure along rows/columns: every row keeps roughly its share too
    per_row = kept.sum(axis=1)
    assert abs(per_row.mean() - 500 * (1 - p)) < 6 * math.sqrt(500 * p * (1 - p) / 400)


def test_backward_uses_forward_mask(isa, rng):
    fastnn.manual_seed(5)
    d = nn.Dropout(0.3)
    x = rng.standard_normal((17, 33)).astype(np.float32)
    y = d(x)
    g = rng.standard_normal(x.shape).astype(np.float32)
    dx = d.backward(g)
    kept = y != 0
    s = np.float32(1 / 0.7)
    np.testing.assert_array_equal(dx[kept], g[kept] * s)
    assert not dx[~kept].any()
    np.testing.assert_array_equal(y[kept], x[kept] * s)


def test_eval_identity_and_p_zero(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    d = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(x * 2), x * 2)
    z = nn.Dropout(0.0)
    np.testing.assert_array_equal(z(x), x)
    np.testing.assert_array_equal(z.backward(x), x)


def test_seeding_reproducible_across_threads(threads, rng):
    x = rng.standard_normal((300, 700)).astype(np.float32)
    outs = []
    for t in (1, 2, 3, 1):
        fastnn.set_num_threads(t)
        fastnn.manual_seed(42)
        outs.append(nn.Dropout(0.5)(x))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    fastnn.manual_seed(43)
    assert not np.array_equal(nn.Dropout(0.5)(x), outs[0])
    # consecutive calls draw fresh masks
    fastnn.manual_seed(42)
    d = nn.Dropout(0.5)
    assert not np.array_equal(d(x), d(x))


def test_validation_and_errors():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="0 <= p < 1"):
            nn.Dropout(bad)
    with pytest.raises(TypeError, match="p must be a real number"):
        nn.Dropout("0.5")
    d = nn.Dropout(0.2)
    with pytest.raises(ValueError, match=r"Dropout\(p=0.2\): backward\(\) called before forward"):
        d.backward(np.zeros(3, np.float32))
    d(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 3\), got \(3, 2\)"):
        d.backward(np.zeros((3, 2), np.float32))
    assert repr(d) == "Dropout(p=0.2)"
    assert nn.module_from_config(d.to_spec()).p == 0.2


def test_noncontiguous_input(rng):
    fastnn.manual_seed(1)
    x = rng.standard_normal((8, 10)).astype(np.float32)
    y1 = nn.Dropout(0.5)(x.T)
    fastnn.manual_seed(1)
    y2 = nn.Dropout(0.5)(np.ascontiguousarray(x.T))
    np.testing.assert_array_equal(y1, y2)
