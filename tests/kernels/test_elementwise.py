"""Raw elementwise kernels (activations, softmax, colsum, dropout) against float64 references on
every ISA path: accuracy in ulps over dense sweeps, masked tails, NaN/Inf, dropout bits."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference_layers import (EPS32, TINY32, act64, act_grad64, dropout_keep_ref,
                                    softmax64, ulp_error)

CODES = {n: getattr(_C.Unary, n) for n in ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "selu",
                                          "gelu")}
# float32-representable, so the float64 reference uses the very parameter the kernel sees
PARAM = {"leaky_relu": float(np.float32(0.01)), "elu": 1.0}
# Worst case over the sweep, in float32 ulps (measured: elu/selu 1.6, sigmoid/tanh 2.5, gelu 5.6).
ULP_BOUND = {"relu": 0, "leaky_relu": 0.5, "elu": 2, "selu": 2, "sigmoid": 3, "tanh": 3,
             "gelu": 7}
# Lengths around every vector width (8, 16) and the 4-vector strips.
SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100]


def sweep():
    rng = np.random.default_rng(1)
    parts = [np.linspace(-20, 20, 40001), rng.standard_normal(4000) * 4,
             np.geomspace(1e-30, 1.0, 600), -np.geomspace(1e-30, 1.0, 600),
             np.linspace(-104, 89, 2001), [0.0, -0.0]]
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("name", list(CODES))
def test_forward_accuracy(isa, name):
    x = sweep()
    if name == "gelu":  # Phi(x) is subnormal below ~-12.9: only absolute accuracy is meaningful
        x = x[x >= -12.5]
    got = _C.unary_forward(x, CODES[name], PARAM.get(name, 0.0))
    want = act64(name, x, PARAM.get(name))
    assert got.dtype == np.float32 and got.shape == x.shape
    assert ulp_error(got, want).max() <= ULP_BOUND[name]
    tiny = np.abs(want) < TINY32
    assert np.all(np.abs(got[tiny] - want[tiny]) <= TINY32)


def test_gelu_far_left_tail_is_tiny(isa):
    x = np.linspace(-40, -12.5, 1001).astype(np.float32)
    got = _C.unary_forward(x, CODES["gelu"])
    assert np.all(np.abs(got - act64("gelu", x)) <= 8 * TINY32)


@pytest.mark.parametrize("name", list(CODES))
@pytest.mark.parametrize("n", SIZES)
def test_forward_tails(isa, rng, name, n):
    # Every length: the masked tail computes exactly what the full vectors compute.
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    got = _C.unary_forward(x, CODES[name], PARAM.get(name, 0.0))
    big = _C.unary_forward(np.tile(x, 3), CODES[name], PARAM.get(name, 0.0))
    np.testing.assert_array_equal(got, big[:n])
    np.testing.assert_array_equal(got, big[n:2 * n])


@pytest.mark.parametrize("name", list(CODES))
def test_nan_inf(isa, name):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, np.nan, 3.0, 2.0], np.float32)
    got = _C.unary_forward(x, CODES[name], PARAM.get(name, 0.0))
    assert np.isnan(got[0]) and np.isnan(got[6])
    with np.errstate(invalid="ignore", over="ignore"):
        want = act64(name, x[1:3], PARAM.get(name))
    # PyTorch: gelu(-inf) = -inf * 0 = NaN; every other limit is the mathematical one.
    np.testing.assert_array_equal(got[1:3], want.astype(np.float32))


@pytest.mark.parametrize("name,param", [("relu", 0.0), ("leaky_relu", 0.01), ("leaky_relu", 0.3),
                                        ("leaky_relu", -0.2), ("elu", 1.0), ("elu", 0.5),
                                        ("elu", -0.5), ("sigmoid", 0.0), ("tanh", 0.0),
                                        ("selu", 0.0), ("gelu", 0.0)])
def test_backward(isa, rng, name, param):
    x = (rng.standard_normal(67) * 3).astype(np.float32)
    x[::13] = 0.0
    g = rng.standard_normal(67).astype(np.float32)
    code = CODES[name]
    y = _C.unary_forward(x, code, param)
    xin = x if _C.unary_backward_needs_input(code, param) else None
    got = _C.unary_backward(xin, y, g, code, param)
    param = float(np.float32(param))
    want = g * act_grad64(name, x, param)
    # The derivative is formed from float32 y (e.g. y + alpha): a few eps of the largest term.
    scale = np.abs(g) * np.maximum(1.0, np.abs(act_grad64(name, x, param)) + 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=float(8 * EPS32 * scale.max()))


def test_backward_needs_input(isa):
    assert _C.unary_backward_needs_input(CODES["gelu"], 0.0)
    assert _C.unary_backward_needs_input(CODES["leaky_relu"], -0.1)
    assert not _C.unary_backward_needs_input(CODES["leaky_relu"], 0.1)
    assert not _C.unary_backward_needs_input(CODES["relu"], 0.0)
    y = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="needs the input"):
        _C.unary_backward(None, y, y, CODES["gelu"], 0.0)


def test_bad_code_and_shapes():
    x = np.ones(5, np.float32)
    with pytest.raises(ValueError, match="code: expected a fastnn._C.Unary .*, got the value 99"):
        _C.unary_forward(x, _C.Unary(99))  # an enum value outside the list: the frame refuses it
    with pytest.raises(ValueError, match="code: .* got the value 0"):
        _C.unary_backward_needs_input(_C.Unary(0))
    with pytest.raises(TypeError, match="code"):  # integer codes are no longer accepted
        _C.unary_forward(x, 1)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(5,\), got \(4,\)"):
        _C.unary_backward(None, x, x[:4], CODES["relu"])
    with pytest.raises(TypeError, match="input"):
        _C.unary_forward(np.ones(3, np.int32), CODES["relu"])


def test_f32_act_matches_epilogue_codes(isa, rng):
    # ops.matmul with an activation equals the activation kernel applied to the plain product.
    a = rng.standard_normal((13, 21)).astype(np.float32)
    b = rng.standard_normal((21, 19)).astype(np.float32)
    bias = rng.standard_normal(19).astype(np.float32)
    z = fastnn.ops.matmul(a, b, bias=bias)
    for name in ("relu", "leaky_relu", "elu", "sigmoid", "tanh"):
        fused = fastnn.ops.matmul(a, b, bias=bias, activation=name)
        np.testing.assert_array_equal(fused, _C.unary_forward(z, CODES[name], PARAM.get(name, 0.0)))


# ---- softmax --------------------------------------------------------------------------------------
def softmax_rtol(x, dim):
    # exp(x - max) inherits the rounding of x - max: relative error |x - max| eps, plus a few ulp.
    return float(EPS32 * (6 + np.abs(x - x.max(axis=dim, keepdims=True)).max()))


@pytest.mark.parametrize("cols", [1, 2, 7, 16, 17, 33, 100])
def test_softmax_rows(isa, rng, cols):
    x = (rng.standard_normal((5, cols)) * 4).astype(np.float32)
    y = _C.softmax_forward(x, 1)
    np.testing.assert_allclose(y, softmax64(x, 1), rtol=softmax_rtol(x, 1), atol=TINY32)
    g = rng.standard_normal((5, cols)).astype(np.float32)
    dx = _C.softmax_backward(y, g, 1)
    s = softmax64(x, 1)
    want = s * (g - (g * s).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(dx, want, rtol=0, atol=16 * EPS32 * np.abs(g).max())


@pytest.mark.parametrize("shape,dim", [((3, 5, 4, 7), 1), ((2, 3, 70), 1), ((4, 9), 0),
                                       ((2, 3, 4), -1), ((1, 1), 1)])
def test_softmax_inner_axes(isa, rng, shape, dim):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = _C.softmax_forward(x, dim)
    np.testing.assert_allclose(y, softmax64(x, dim), rtol=softmax_rtol(x, dim), atol=TINY32)
    g = rng.standard_normal(shape).astype(np.float32)
    s = softmax64(x, dim)
    want = s * (g - (g * s).sum(axis=dim, keepdims=True))
    dx = _C.softmax_backward(y, g, dim)
    np.testing.assert_allclose(dx, want, rtol=0, atol=16 * EPS32 * np.abs(g).max())


def test_softmax_large_logits_and_nan(isa):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e30, 0.0, 1e30], [np.nan, 1.0, 2.0]], np.float32)
    y = _C.softmax_forward(x, 1)
    np.testing.assert_allclose(y[0], softmax64(x[:1], 1)[0], rtol=4 * EPS32)
    np.testing.assert_array_equal(y[1], [0.0, 0.0, 1.0])
    assert np.all(np.isnan(y[2]))


def test_softmax_bad_dim():
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        _C.softmax_forward(np.ones((2, 3), np.float32), 2)


# ---- colsum -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 17), (64, 128), (5, 100), (0, 9), (300, 33)])
def test_colsum(isa, rng, rows, cols):
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    out = rng.standard_normal(cols).astype(np.float32)
    want = out.astype(np.float64) + x.astype(np.float64).sum(axis=0)
    _C.colsum_accumulate(x, out)
    np.testing.assert_allclose(out, want, rtol=0, atol=4 * EPS32 * (rows + 1) * (np.abs(want).max() + 1))


def test_colsum_thread_independent(rng, threads):
    x = rng.standard_normal((700, 300)).astype(np.float32)
    outs = []
    for t in (1, 2, 3):
        fastnn.set_num_threads(t)
        o = np.zeros(300, np.float32)
        _C.colsum_accumulate(x, o)
        outs.append(o)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


# ---- dropout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 16, 17, 1000, 70001])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_mask_bits(isa, n, p):
    seed = 12345 + n
    mask = _C.dropout_mask(n, p, seed)
    keep = dropout_keep_ref(n, p, seed)
    scale = np.float32(1.0 / (1.0 - p))
    np.testing.assert_array_equal(mask, np.where(keep, scale, np.float32(0)))


def test_dropout_forward_backward_same_mask(isa, rng):
    x = rng.standard_normal((33, 21)).astype(np.float32)
    y = _C.dropout_forward(x, 0.4, 99)
    keep = dropout_keep_ref(x.size, 0.4, 99).reshape(x.shape)
    s = np.float32(1 / 0.6)
    np.testing.assert_array_equal(y, np.where(keep, x * s, np.float32(0) * x))
    g = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(_C.dropout_backward(g, 0.4, 99), np.where(keep, g * s, 0 * g))


def test_dropout_thread_independent(threads):
    masks = []
    for t in (1, 2, 3):
        fastnn.set_num_threads(t)
        masks.append(_C.dropout_mask(300001, 0.5, 7))
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])


def test_dropout_nan_propagates(isa):
    x = np.full(64, np.nan, np.float32)
    assert np.all(np.isnan(_C.dropout_forward(x, 0.5, 3)))


def test_dropout_bad_p():
    for p in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="p"):
            _C.dropout_forward(np.ones(4, np.float32), p, 1)


# ---- the threaded sum (_C.add): the Add layer's forward, the graph executor's gradient sums -------

@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5, 2), (32768,), (32769,), (5, 13, 1031)])
def test_add_matches_numpy(isa, rng, threads, shape):
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    for nt in (1, 2, 3):
        fastnn.set_num_threads(nt)
        np.testing.assert_array_equal(_C.add(a, b), a + b)  # one rounding per element: exact
        np.testing.assert_array_equal(_C.add(a, b, relu=True), np.maximum(a + b, 0))


def test_add_relu_nan_and_signed_zero():
    a = np.array([np.nan, -0.0, -1.0, 1.0, np.inf, -np.inf], np.float32)
    b = np.array([1.0, -0.0, 0.5, -2.0, 1.0, 1.0], np.float32)
    got = _C.add(a, b, relu=True)
    want = _C.unary_forward(a + b, _C.Unary.relu)  # the ReLU layer's values, NaN and -0 included
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_add_in_place_and_strided(rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal((4, 6)).astype(np.float32)
    want = a + b
    out = a.copy()
    assert _C.add(out, b, out=out) is out
    np.testing.assert_array_equal(out, want)
    out = b.copy()
    _C.add(a, out, out=out)
    np.testing.assert_array_equal(out, want)
    wide = np.repeat(a, 2, axis=1)[:, ::2]  # a strided input is read through a copy
    np.testing.assert_array_equal(_C.add(wide, b), want)
    np.testing.assert_array_equal(_C.add(a.astype(np.float64), b), want)


def test_add_errors_name_the_argument(rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"Add: b: expected shape \(4, 6\).*got \(6, 4\)"):
        _C.add(a, a.T.copy(), layer="Add")
    with pytest.raises(ValueError, match="out"):
        _C.add(a, a, out=np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError, match="out"):
        _C.add(a, a, out=np.zeros((4, 6), np.float64))
    big = np.zeros(30, np.float32)
    x, y = big[:24].reshape(4, 6), big[6:30].reshape(4, 6)  # out overlaps a, shifted: refused
    before = big.copy()
    with pytest.raises(ValueError, match="must be a itself or not share memory with it"):
        _C.add(x, a, out=y)
    np.testing.assert_array_equal(big, before)  # a refused call writes nothing
    with pytest.raises(TypeError, match="a"):
        _C.add("text", a)
