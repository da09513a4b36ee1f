"""Leaf optimizer kernels and reductions on every ISA, at lengths around the vector widths (the
masked tails): one parameter per call, so each kernel sees exactly n elements. Small on purpose:
CI runs tests/kernels under ASan."""
import math

import numpy as np
import pytest

from fastnn import _C, optim
from fastnn.nn import Parameter
from tests.optim.ref_optim import RefOptimizer
from tests.reference import EPS32

LENGTHS = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33]
KERNELS = [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),       # plain body
           ("SGD", dict(lr=0.1, weight_decay=0.1, l1=0.01)),          # regularised body
           ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
           ("RMSprop", dict(centered=True, momentum=0.5)),
           ("Adam", dict(lr=0.01)),
           ("Adam", dict(lr=0.01, amsgrad=True, l1=0.01)),
           ("AdamW", dict(lr=0.01))]


@pytest.mark.parametrize("name,opts", KERNELS, ids=[f"{n}{i}" for i, (n, _) in enumerate(KERNELS)])
def test_update_tails(isa, rng, name, opts):
    for n in LENGTHS:
        # Guard elements around the parameter catch any write past its end.
        buf = rng.standard_normal(n + 32).astype(np.float32)
        guard = buf.copy()
        p = Parameter(buf[16:16 + n])
        p.data = buf[16:16 + n]
        p.mask = (rng.random(n) > 0.3).astype(np.float32) if n % 2 else None
        ref = RefOptimizer(name, [p.data.copy()], masks=[p.mask], **opts)
        opt = getattr(optim, name)([p], **opts)
        for _ in range(2):
            g = rng.standard_normal(n).astype(np.float32)
            p.grad[...] = g
            ref.step([g])
            opt.step()
        ref.check([p.data])
        np.testing.assert_array_equal(buf[:16], guard[:16])
        np.testing.assert_array_equal(buf[16 + n:], guard[16 + n:])


def test_reductions_and_transforms(isa, rng):
    for n in LENGTHS + [1023, 1024, 1025, 2049]:
        buf = rng.standard_normal(n + 32).astype(np.float32)
        x = buf[16:16 + n]
        guard = buf.copy()
        x64 = x.astype(np.float64)
        tol = 4 * EPS32 * math.sqrt(max(n, 1))
        assert abs(_C.grad_norm([x], 2.0) - np.sqrt((x64 ** 2).sum())) <= tol * np.sqrt((x64 ** 2).sum()) + 1e-30
        assert abs(_C.grad_norm([x], 1.0) - np.abs(x64).sum()) <= tol * np.abs(x64).sum() + 1e-30
        assert _C.grad_norm([x], math.inf) == (np.abs(x).max() if n else 0.0)
        assert abs(_C.grad_norm([x], 3.0) - (np.abs(x64) ** 3).sum() ** (1 / 3)) <= \
            tol * (np.abs(x64) ** 3).sum() ** (1 / 3) + 1e-30
        _C.clip_grad_value([x], 0.5)
        np.testing.assert_array_equal(x, np.clip(guard[16:16 + n], -0.5, 0.5))
        before = x.copy()
        _C.clip_grad_norm([x], 1e-3, 2.0, False)
        if n:
            coef = np.float32(1e-3 / (np.linalg.norm(before.astype(np.float64)) + 1e-6))
            np.testing.assert_allclose(x, before * coef, rtol=tol + 2 * EPS32)
        np.testing.assert_array_equal(buf[:16], guard[:16])
        np.testing.assert_array_equal(buf[16 + n:], guard[16 + n:])
    nan = np.array([1.0, np.nan, 3.0] + [0.0] * 20, np.float32)
    assert math.isnan(_C.grad_norm([nan], math.inf))
