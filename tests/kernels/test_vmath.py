"""The shared vector math (csrc/kernels/simd/vmath_body.h) against float64 references, one function
at a time through _C.vmath, on every ISA path: accuracy in float32 ulps over dense sweeps plus the
worst inputs an exhaustive search found (the subnormal results of exp, sigmoid and the Gaussian
tail included), the overflow/underflow cut points, tiny arguments, NaN and infinities, masked
tails, and bad arguments.

The bounds come from an exhaustive measurement -- every float32 in each function's range (below),
run by `python -m tests.kernels.vmath_exhaustive` -- which gave the same worst cases, at the same
inputs, on AVX2 and AVX-512 (one body, same bits):

    function        normal results      subnormal results (units of 2^-149)
    exp             1.0103 at -5.877884    0.7503 at -87.337357
    expm1_nonpos    0.8599 at -0.3475222   0 (subnormal x: the result is x)
    tanh            2.4984 at  4.505091    0 (subnormal x: the result is x)
    sigmoid         2.8250 at -1.954244    0.7503 at -87.337357
    phi_tail        6.3961 at  0.000502559 2.2714 at 12.952878
    phi_tail_q      7.0179 at  0.000493118 2.4098 at 12.950281
    phi_tail_g      1.4863 at 10.945416    1.2254 at 13.216595

Each bound is that worst case plus 0.01, rounded up to a multiple of 0.05: the float64 references
are good to ~1e-8 ulp, so the margin is only room for a harmless change of rounding, not for a
worse formula. The sweep contains the worst inputs, so a bound below the measured worst fails.
The generic path is libm evaluated in double and rounded once: 0.5 ulp (exhaustively, too)."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference_layers import EPS32, TINY32, ulp_error

F32 = np.float32
SUB_SPACING = TINY32 * EPS32  # 2^-149: the spacing of float32 below the smallest normal
FNS = ("exp", "expm1_nonpos", "tanh", "sigmoid", "phi_tail", "phi_tail_q", "phi_tail_g")
# (normal results in ulps, subnormal results in units of 2^-149): the measured worst, rounded up
BOUND = {"exp": (1.05, 0.8), "expm1_nonpos": (0.9, 0.05), "tanh": (2.55, 0.05),
         "sigmoid": (2.85, 0.8), "phi_tail": (6.45, 2.3), "phi_tail_q": (7.05, 2.45),
         "phi_tail_g": (1.5, 1.25)}
GENERIC_BOUND = 0.5 + 1e-6  # rounded once from double: 0.5 ulp plus libm's double error
# The inputs of the worst cases in the table above.
WORST = {"exp": [-5.877884387969971, -87.33735656738281],
         "expm1_nonpos": [-0.34752222895622253], "tanh": [4.505090713500977],
         "sigmoid": [-1.9542444944381714, -87.33735656738281],
         "phi_tail": [0.0005025590071454644, 12.95287799835205],
         "phi_tail_q": [0.0004931181319989264, 12.950281143188477],
         "phi_tail_g": [10.945416450500488, 13.216594696044922]}
# Where each function is not a constant in float32; vmath_exhaustive covers every float in these.
# (0, hi): an even function or one odd by copysign; the sweep adds -x, parity is tested exactly.
RANGE = {"exp": (-104.5, 89.0), "expm1_nonpos": (-30.0, 0.0), "tanh": (0.0, 10.0),
         "sigmoid": (-105.0, 18.0), "phi_tail": (0.0, 20.0), "phi_tail_q": (0.0, 20.0),
         "phi_tail_g": (0.0, 20.0)}
_erfc = np.frompyfunc(math.erfc, 1, 1)


def reference(fn, x):
    """fn(x) in float64, for float32 x."""
    v = np.asarray(x, np.float64)
    if fn == "exp":
        with np.errstate(over="ignore"):
            return np.exp(v)
    if fn == "expm1_nonpos":
        return np.expm1(np.minimum(v, 0.0))
    if fn == "tanh":
        return np.tanh(v)
    if fn == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-v))
    if fn == "phi_tail_g":
        return np.exp(-0.5 * v * v)
    return 0.5 * _erfc(np.abs(v) / math.sqrt(2.0)).astype(np.float64)  # phi_tail, phi_tail_q


def errors(fn, x, got):
    """(ulps where the exact result is a normal float32, |error| / 2^-149 where it is not)."""
    want = reference(fn, x)
    sub = np.abs(want) < TINY32
    return ulp_error(got, want), np.where(sub, np.abs(got - want) / SUB_SPACING, 0.0)


def check(fn, x, got):
    if x.size == 0:
        return
    generic = fastnn.get_isa() == "generic"
    b_normal, b_sub = (GENERIC_BOUND, GENERIC_BOUND) if generic else BOUND[fn]
    err_n, err_s = errors(fn, x, got)
    i = int(np.argmax(err_n))
    assert err_n[i] <= b_normal, (fn, x[i], got[i], err_n[i])
    i = int(np.argmax(err_s))
    assert err_s[i] <= b_sub, (fn, x[i], got[i], err_s[i])


def sweep(fn):
    lo, hi = RANGE[fn]
    if fn == "exp":
        hi = 88.72  # exp(88.72) < FLT_MAX; the cut point above has its own test
    rng = np.random.default_rng(7)
    tiny = np.geomspace(1e-38, max(-lo, hi), 20000)
    parts = [np.linspace(lo, hi, 200001), rng.uniform(lo, hi, 50000), [0.0, -0.0], WORST[fn],
             tiny, -tiny]
    x = np.concatenate(parts).astype(F32)
    if lo == 0.0:  # the symmetric functions (even, or odd by copysign): both signs
        lo = -hi
        x = np.concatenate([x, -x])
    return x[(x >= lo) & (x <= hi)]


@pytest.mark.parametrize("fn", FNS)
def test_accuracy(isa, fn):
    x = sweep(fn)
    got = _C.vmath(x, fn)
    assert got.dtype == F32 and got.shape == x.shape
    check(fn, x, got)


@pytest.mark.parametrize("fn", ("phi_tail", "phi_tail_g"))
def test_even_functions_are_exactly_even(isa, fn):
    x = sweep(fn)
    np.testing.assert_array_equal(_C.vmath(x, fn), _C.vmath(-x, fn))


def test_tanh_is_exactly_odd(isa):
    x = sweep("tanh")
    np.testing.assert_array_equal(_C.vmath(x, "tanh"), -_C.vmath(-x, "tanh"))


def test_exp_overflow_and_underflow_cut_points(isa):
    # Around ln(FLT_MAX) = 88.7228..., where exp overflows, the smallest normal result (-87.3365),
    # and the subnormal range down to -103.97 (exp rounds to 2^-149) and -104 (to 0): forty
    # neighbouring floats on each side of each.
    pts = []
    for c in (88.72283, -87.33655, -103.97208, -104.0):
        a = F32(c)
        for _ in range(40):
            a = np.nextafter(a, F32(-np.inf))
        for _ in range(81):
            pts.append(a)
            a = np.nextafter(a, F32(np.inf))
    x = np.array(pts + [88.73, 89.0, 100.0, 1e30, -104.5, -200.0, -1e30], F32)
    got = _C.vmath(x, "exp")
    with np.errstate(over="ignore"):
        want32 = np.exp(x.astype(np.float64)).astype(F32)  # the correctly rounded float32
    assert np.isinf(want32).any() and (want32 == 0).any() and (want32 < TINY32).any()
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want32))  # overflows where exp does
    assert np.all(got[x > 88.73] == np.inf) and np.all(got[x < -104.0] == 0.0)
    finite = np.isfinite(want32)
    check("exp", x[finite], got[finite])


def test_expm1_near_zero(isa):
    # Relative accuracy where exp(x) - 1 would cancel to 0 or to a multiple of 2^-24: below
    # 2^-25 in magnitude the float32 result is x itself.
    x = np.array([-1e-30, -1e-20, -1e-8, -3e-8, -1e-7, -1e-6, -1e-4, -1e-2, -1e-45, -1e-40,
                  -TINY32, -0.0, 0.0], F32)
    got = _C.vmath(x, "expm1_nonpos")
    check("expm1_nonpos", x, got)
    small = np.abs(x) < 2.0 ** -25
    np.testing.assert_array_equal(got[small], x[small])
    # x > 0 is clamped to 0: expm1(min(x, 0))
    np.testing.assert_array_equal(_C.vmath(np.array([1e-30, 1.0, 1e30], F32), "expm1_nonpos"), 0)


LIMITS = {"exp": (np.inf, 0.0), "expm1_nonpos": (0.0, -1.0), "tanh": (1.0, -1.0),
          "sigmoid": (1.0, 0.0), "phi_tail": (0.0, 0.0), "phi_tail_q": (0.0, 0.0),
          "phi_tail_g": (0.0, 0.0)}


@pytest.mark.parametrize("fn", FNS)
def test_nan_and_infinities(isa, fn):
    x = np.array([np.nan, np.inf, -np.inf, -np.nan], F32)
    got = _C.vmath(x, fn)
    assert np.isnan(got[0]) and np.isnan(got[3])
    assert (got[1], got[2]) == LIMITS[fn]


@pytest.mark.parametrize("fn", FNS)
def test_nan_in_a_full_vector_stays_in_its_lane(isa, fn):
    x = np.linspace(-3, 3, 33).astype(F32)
    x[[0, 8, 16, 31]] = np.nan
    got = _C.vmath(x, fn)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 31, 33])
def test_masked_tails(isa, rng, fn, n):
    # A value gives the same bits at any position: in a masked tail, in a full vector, and in a
    # strided (copied) input.
    x = (rng.standard_normal(n) * 4).astype(F32)
    got = _C.vmath(x, fn)
    assert got.shape == (n,)
    big = _C.vmath(np.tile(x, 3), fn)
    np.testing.assert_array_equal(got, big[:n])
    np.testing.assert_array_equal(got, big[n:2 * n])
    np.testing.assert_array_equal(got, _C.vmath(np.repeat(x, 2)[::2], fn))
    check(fn, x, got)


def test_shape_is_kept(rng):
    x = rng.standard_normal((3, 1, 5)).astype(F32)
    assert _C.vmath(x, "tanh").shape == (3, 1, 5)
    assert _C.vmath(np.float32(0.5), "exp").shape == ()


def test_other_float_dtypes_are_converted(rng):
    x = rng.standard_normal(20)
    np.testing.assert_array_equal(_C.vmath(x, "sigmoid"), _C.vmath(x.astype(F32), "sigmoid"))
    np.testing.assert_array_equal(_C.vmath(list(x), "exp"), _C.vmath(x.astype(F32), "exp"))


def test_bad_arguments():
    names = r"'exp', 'expm1_nonpos', 'tanh', 'sigmoid', 'phi_tail', 'phi_tail_q', 'phi_tail_g'"
    for bad in ("log", "expm1", "", "EXP"):
        with pytest.raises(ValueError, match=rf"function: unknown .*'{bad}'.*expected one of {names}$"):
            _C.vmath(np.zeros(3, F32), bad)
    with pytest.raises(TypeError):
        _C.vmath(np.zeros(3, F32), 0)  # a code is not a name
    for dt in (np.int32, np.uint8, np.bool_, np.complex64):
        with pytest.raises(TypeError, match=rf"x: expected .*float32.*{np.dtype(dt)}"):
            _C.vmath(np.zeros(3, dt), "exp")
    with pytest.raises(TypeError, match=r"x: expected an array, got None"):
        _C.vmath(None, "exp")
    with pytest.raises(TypeError, match=r"x: expected"):
        _C.vmath(np.array(["a", "b"]), "exp")
