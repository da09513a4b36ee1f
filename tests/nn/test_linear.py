"""Linear and Flatten: forward against float64 numpy, backward against central finite differences,
gradient accumulation and freezing, activation fusion (bit-identical to unfused), bad input."""
import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from fastnn import _C
from tests.reference_layers import EPS32, fd_grad


def linear64(x, w, b):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    return y if b is None else y + np.asarray(b, np.float64)


def tol(x, w, k):
    return 8 * EPS32 * math.sqrt(max(k, 1)) * (np.abs(x).max() * np.abs(w).max() * 2 + 1)


@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (1, 13, 7), (7, 13, 5), (33, 300, 17), (64, 129, 33)])
@pytest.mark.parametrize("bias", [True, False])
def test_forward(isa, rng, n, i, o, bias):
    lin = nn.Linear(i, o, bias=bias)
    x = rng.standard_normal((n, i)).astype(np.float32)
    y = lin(x)
    assert y.dtype == np.float32 and y.shape == (n, o)
    b = lin.bias.data if bias else None
    np.testing.assert_allclose(y, linear64(x, lin.weight.data, b), rtol=0,
                               atol=tol(x, lin.weight.data, i))


@pytest.mark.parametrize("layout", ["strided", "transposed", "float64"])
def test_forward_backward_noncontiguous(isa, rng, layout):
    lin = nn.Linear(19, 11)
    base = rng.standard_normal((9, 38))
    x = {"strided": base.astype(np.float32)[:, ::2],
         "transposed": np.asfortranarray(base[:, :19].astype(np.float32)),
         "float64": base[:, :19]}[layout]
    assert layout == "float64" or not x.flags.c_contiguous
    y = lin(x)
    np.testing.assert_allclose(y, linear64(x, lin.weight.data, lin.bias.data), atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = lin.backward(g)
    np.testing.assert_allclose(dx, g.astype(np.float64) @ lin.weight.data, atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad, g.T.astype(np.float64) @ np.asarray(x, np.float64),
                               atol=1e-5)


@pytest.mark.parametrize("n,i,o", [(1, 3, 2), (4, 5, 3), (3, 17, 9)])
def test_backward_finite_differences(isa, rng, n, i, o):
    lin = nn.Linear(i, o)
    x = rng.standard_normal((n, i)).astype(np.float32)
    w, b = lin.weight.data.astype(np.float64), lin.bias.data.astype(np.float64)
    g = rng.standard_normal((n, o))
    lin(x)
    dx = lin.backward(g.astype(np.float32))
    atol = 16 * EPS32 * math.sqrt(max(n, o)) * (np.abs(g).max() * (np.abs(x).max() + np.abs(w).max() + 1))
    np.testing.assert_allclose(dx, fd_grad(lambda v: linear64(v, w, b), x, g), atol=atol)
    np.testing.assert_allclose(lin.weight.grad, fd_grad(lambda v: linear64(x, v, b), w, g), atol=atol)
    np.testing.assert_allclose(lin.bias.grad, fd_grad(lambda v: linear64(x, w, v), b, g), atol=atol)


def test_gradients_accumulate_until_zero_grad(rng):
    lin = nn.Linear(6, 4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    g = rng.standard_normal((5, 4)).astype(np.float32)
    lin(x)
    lin.backward(g)
    once_w, once_b = lin.weight.grad.copy(), lin.bias.grad.copy()
    with pytest.raises(ValueError, match=r"a second time after one forward"):
        lin.backward(g)
    lin(x)
    lin.backward(g)
    np.testing.assert_allclose(lin.weight.grad, 2 * once_w, rtol=1e-6)
    np.testing.assert_allclose(lin.bias.grad, 2 * once_b, rtol=1e-6)
    lin.zero_grad()
    assert not lin.weight.grad.any() and not lin.bias.grad.any()


@pytest.mark.parametrize("frozen", ["weight", "bias", "both"])
def test_frozen_parameters_keep_grad(rng, frozen):
    lin = nn.Linear(6, 4)
    sentinel_w = np.full((4, 6), 7.0, np.float32)
    sentinel_b = np.full(4, 7.0, np.float32)
    lin.weight.grad[...] = sentinel_w
    lin.bias.grad[...] = sentinel_b
    if frozen in ("weight", "both"):
        lin.weight.requires_grad = False
    if frozen in ("bias", "both"):
        lin.bias.requires_grad = False
    x = rng.standard_normal((3, 6)).astype(np.float32)
    lin(x)
    dx = lin.backward(np.ones((3, 4), np.float32))
    np.testing.assert_allclose(dx, np.ones((3, 4)) @ lin.weight.data, atol=1e-6)
    assert np.array_equal(lin.weight.grad, sentinel_w) == (frozen in ("weight", "both"))
    assert np.array_equal(lin.bias.grad, sentinel_b) == (frozen in ("bias", "both"))


# ---- activation fusion -----------------------------------------------------------------------
FUSABLE = [lambda: nn.ReLU(), lambda: nn.LeakyReLU(0.1), lambda: nn.LeakyReLU(0.0),
           lambda: nn.ELU(0.7), lambda: nn.Sigmoid(), lambda: nn.Tanh()]
NOT_FUSABLE = [lambda: nn.LeakyReLU(-0.1), lambda: nn.ELU(-0.5), lambda: nn.GELU(),
               lambda: nn.SELU(), lambda: nn.Softmax(), lambda: nn.Dropout(0.0)]


def _pair(rng, make_act, i=37, o=29):
    a = nn.Sequential(nn.Linear(i, o), make_act())
    b = nn.Sequential(nn.Linear(i, o), make_act())
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("make_act", FUSABLE + NOT_FUSABLE)
def test_fused_equals_unfused(isa, rng, make_act):
    fused, plain = _pair(rng, make_act)
    x = (rng.standard_normal((23, 37)) * 2).astype(np.float32)
    g = rng.standard_normal((23, 29)).astype(np.float32)
    y1 = fused(x)  # Sequential: the Linear may absorb the activation
    y2 = plain[1](plain[0](x))  # layer by layer, never fused
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(fused.backward(g), plain[0].backward(plain[1].backward(g)))
    np.testing.assert_array_equal(fused[0].weight.grad, plain[0].weight.grad)
    np.testing.assert_array_equal(fused[0].bias.grad, plain[0].bias.grad)


@pytest.mark.parametrize("make_act", FUSABLE)
def test_fusion_happens(rng, make_act, monkeypatch):
    model = nn.Sequential(nn.Linear(8, 6), make_act())
    calls = []
    monkeypatch.setattr(type(model[1]), "forward", lambda self, x: calls.append(1))
    y = model(rng.standard_normal((4, 8)).astype(np.float32))
    assert not calls and y.shape == (4, 6)
    assert model[1].backward(np.ones((4, 6), np.float32)).shape == (4, 6)


@pytest.mark.parametrize("make_act", NOT_FUSABLE[:4])
def test_no_fusion_when_backward_needs_input(make_act):
    assert make_act().epilogue() is None


# ---- errors, config, init --------------------------------------------------------------------
def test_input_errors():
    lin = nn.Linear(784, 128)
    with pytest.raises(ValueError, match=r"Linear\(784, 128\): input: expected shape \(\*, 784\), "
                                         r"got \(64, 100\)"):
        lin(np.zeros((64, 100), np.float32))
    with pytest.raises(ValueError, match=r"Linear\(784, 128\): input: expected shape \(\*, 784\), "
                                         r"got \(64, 1, 28, 28\)"):
        lin(np.zeros((64, 1, 28, 28), np.float32))
    with pytest.raises(TypeError, match=r"Linear\(784, 128\): input"):
        lin(np.zeros((2, 784), np.complex64))
    with pytest.raises(ValueError, match=r"Linear\(784, 128\): backward\(\) called before forward"):
        lin.backward(np.zeros((2, 128), np.float32))
    lin(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match=r"Linear\(784, 128\): grad_out: expected shape \(2, 128\)"):
        lin.backward(np.zeros((3, 128), np.float32))
    lin.weight.grad = np.zeros((128, 784), np.float64)
    with pytest.raises(TypeError, match=r"Linear\(784, 128\): weight.grad"):
        lin.backward(np.zeros((2, 128), np.float32))


def test_failed_forward_keeps_state(rng):
    lin = nn.Linear(4, 3)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    lin(x)
    with pytest.raises(ValueError):
        lin(np.zeros((2, 5), np.float32))
    dx = lin.backward(np.ones((2, 3), np.float32))  # still refers to the good forward
    assert dx.shape == (2, 4)


def test_constructor_validation():
    with pytest.raises(TypeError, match="in_features"):
        nn.Linear(3.5, 2)
    with pytest.raises(ValueError, match="out_features must be >= 1"):
        nn.Linear(3, 0)


def test_repr_config_state_dict(rng):
    lin = nn.Linear(784, 128)
    assert repr(lin) == "Linear(in_features=784, out_features=128, bias=True)"
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    assert list(lin.state_dict()) == ["weight", "bias"]
    assert list(nn.Linear(3, 2, bias=False).state_dict()) == ["weight"]
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    clone = nn.module_from_config(model.to_spec())
    assert repr(clone) == repr(model)
    clone.load_state_dict(model.state_dict())
    x = rng.standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(clone(x), model(x))


def test_default_init_and_seeding():
    fastnn.manual_seed(3)
    a = nn.Linear(400, 300)
    fastnn.manual_seed(3)
    b = nn.Linear(400, 300)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    bound = 1 / math.sqrt(400)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.bias.data).max() <= bound
    # U(-bound, bound): std bound / sqrt(3); 120000 samples give ~0.2% relative error
    assert abs(a.weight.data.std() / (bound / math.sqrt(3)) - 1) < 0.02


def test_matches_torch(torch, rng):
    tl = torch.nn.Linear(20, 7)
    lin = nn.Linear(20, 7)
    lin.load_state_dict(tl.state_dict())
    x = rng.standard_normal((6, 20)).astype(np.float32)
    g = rng.standard_normal((6, 7)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = tl(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(lin(x), yt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(lin.backward(g), xt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad, tl.weight.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad, tl.bias.grad.numpy(), atol=1e-5)


# ---- Flatten ---------------------------------------------------------------------------------
def test_flatten(rng):
    f = nn.Flatten()
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = f(x)
    assert y.shape == (2, 60) and np.shares_memory(y, x)
    np.testing.assert_array_equal(f.backward(y + 1), x + 1)
    xt = x.transpose(0, 2, 3, 1)  # non-contiguous: flattened in C order of the view
    np.testing.assert_array_equal(f(xt), np.ascontiguousarray(xt).reshape(2, -1))
    assert f.backward(np.ones((2, 60), np.float32)).shape == (2, 4, 5, 3)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    assert nn.Flatten(1, 1)(np.zeros((1, 3), np.float32)).shape == (1, 3)
    assert repr(f) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_errors():
    f = nn.Flatten()
    with pytest.raises(ValueError, match="backward"):
        f.backward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"cannot flatten dims 1..-1"):
        f(np.zeros(5, np.float32))
    f(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="grad_out: expected 24 elements"):
        f.backward(np.zeros((2, 5), np.float32))
