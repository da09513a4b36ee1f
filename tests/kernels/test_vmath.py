"""The shared vector math (csrc/kernels/simd/vmath_body.h) against float64 references, one function
at a time through _C.vmath, on every ISA path: accuracy in float32 ulps over dense sweeps (the
subnormal results of exp and sigmoid included), the overflow/underflow cut points, NaN and
infinities, masked tails, and bad arguments. The generic path is libm evaluated in double and
rounded once, so it is held to 0.5 ulp.

Measured worst cases on AVX2 and AVX-512 (same code, same bits): exp 1.01 ulp (subnormal results
0.75 of the subnormal spacing), expm1_nonpos 0.81, tanh 2.49, sigmoid 2.40 (subnormal 0.74),
phi_tail 5.96 (subnormal 1.68). The bounds below sit just above those figures."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import _C

F32 = np.float32
FNS = ("exp", "expm1_nonpos", "tanh", "sigmoid", "phi_tail")
# (normal results, subnormal results) in ulps of float32 at the exact value
BOUND = {"exp": (1.1, 0.8), "expm1_nonpos": (0.9, 0.0), "tanh": (2.6, 0.0),
         "sigmoid": (2.5, 0.8), "phi_tail": (6.1, 1.8)}
_erfc = np.frompyfunc(math.erfc, 1, 1)


def reference(fn, x):
    v = np.asarray(x, np.float64)
    if fn == "exp":
        return np.exp(v)
    if fn == "expm1_nonpos":
        return np.expm1(np.minimum(v, 0.0))
    if fn == "tanh":
        return np.tanh(v)
    if fn == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-v))
    return 0.5 * _erfc(np.abs(v) / math.sqrt(2.0)).astype(np.float64)


def ulps(got, want):
    """|got - want| in float32 spacings at want; below the smallest normal the spacing is the
    subnormal one (2^-149), so subnormal results are measured, not skipped."""
    sp = np.spacing(np.abs(want).astype(F32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / sp


def sweep(fn):
    rng = np.random.default_rng(7)
    lo, hi = {"exp": (-104.0, 88.72), "expm1_nonpos": (-30.0, 0.0), "tanh": (-20.0, 20.0),
              "sigmoid": (-105.0, 105.0), "phi_tail": (-14.0, 14.0)}[fn]
    tiny = np.geomspace(1e-38, max(abs(lo), abs(hi)), 20000)
    parts = [np.linspace(lo, hi, 200001), rng.uniform(lo, hi, 50000), [0.0, -0.0]]
    parts += [t for t in (tiny, -tiny) if lo < 0 or t[0] > 0]
    x = np.concatenate(parts).astype(F32)
    return x[(x >= lo) & (x <= hi)]


def check(fn, x, got):
    want = reference(fn, x)
    normal = np.abs(want) >= np.finfo(F32).tiny
    b_normal, b_sub = (0.5 + 1e-6, 0.5 + 1e-6) if fastnn.get_isa() == "generic" else BOUND[fn]
    err = ulps(got, want)
    worst = int(np.argmax(np.where(normal, err, 0)))
    assert err[normal].max() <= b_normal, (fn, x[worst], got[worst], want[worst], err[worst])
    if (~normal).any():
        assert err[~normal].max() <= max(b_sub, 0.5 + 1e-6), fn


@pytest.mark.parametrize("fn", FNS)
def test_accuracy(isa, fn):
    x = sweep(fn)
    got = _C.vmath(x, fn)
    assert got.dtype == F32 and got.shape == x.shape
    check(fn, x, got)


def test_exp_overflow_and_underflow_cut_points(isa):
    # Around ln(FLT_MAX) = 88.7228..., where exp overflows, and the subnormal range down to
    # -103.97 (exp rounds to 2^-149) and -104 (to 0): every neighbour float on both sides.
    pts = []
    for c in (88.72283, -87.33655, -103.97208, -104.0):
        a = F32(c)
        for _ in range(40):
            a = np.nextafter(a, F32(-np.inf))
        for _ in range(80):
            pts.append(a)
            a = np.nextafter(a, F32(np.inf))
    x = np.array(pts + [88.73, 89.0, 100.0, 1e30, -104.5, -200.0, -1e30], F32)
    got = _C.vmath(x, "exp")
    with np.errstate(over="ignore"):
        want32 = np.exp(x.astype(np.float64)).astype(F32)  # the correctly rounded float32
    assert np.array_equal(np.isinf(got), np.isinf(want32))  # overflows exactly where exp does
    assert np.all(got[x > 88.73] == np.inf) and np.all(got[x < -104.0] == 0.0)
    finite = np.isfinite(want32)
    check("exp", x[finite], got[finite])


@pytest.mark.parametrize("fn", FNS)
def test_nan_and_infinities(isa, fn):
    x = np.array([np.nan, np.inf, -np.inf, -np.nan], F32)
    got = _C.vmath(x, fn)
    assert np.isnan(got[0]) and np.isnan(got[3])
    limits = {"exp": (np.inf, 0.0), "expm1_nonpos": (0.0, -1.0), "tanh": (1.0, -1.0),
              "sigmoid": (1.0, 0.0), "phi_tail": (0.0, 0.0)}[fn]
    assert (got[1], got[2]) == limits


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 31, 33])
def test_masked_tails(isa, rng, fn, n):
    # A value gives the same bits at any position: in a masked tail, in a full vector, and in a
    # strided (copied) input.
    x = (rng.standard_normal(n) * 4).astype(F32)
    got = _C.vmath(x, fn)
    big = _C.vmath(np.tile(x, 3), fn)
    np.testing.assert_array_equal(got, big[:n])
    np.testing.assert_array_equal(got, big[n:2 * n])
    np.testing.assert_array_equal(got, _C.vmath(np.repeat(x, 2)[::2], fn))


def test_shape_is_kept(rng):
    x = rng.standard_normal((3, 1, 5)).astype(F32)
    assert _C.vmath(x, "tanh").shape == (3, 1, 5)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"function: unknown .*'log'.*'exp', 'expm1_nonpos'"):
        _C.vmath(np.zeros(3, F32), "log")
    with pytest.raises(TypeError, match=r"x: expected .*float32.*int32"):
        _C.vmath(np.zeros(3, np.int32), "exp")
