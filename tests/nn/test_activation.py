"""Activation layers and Softmax: forward against float64, backward against central finite
differences (float64), odd shapes, batch 1, non-contiguous input, every ISA, PyTorch parity."""
import numpy as np
import pytest

import fastnn.nn as nn
from tests.reference_layers import EPS32, act64, fd_grad, softmax64

LAYERS = {
    "relu": (lambda: nn.ReLU(), None),
    "leaky_relu": (lambda: nn.LeakyReLU(0.05), 0.05),
    "leaky_relu_neg": (lambda: nn.LeakyReLU(-0.3), -0.3),
    "elu": (lambda: nn.ELU(0.8), 0.8),
    "elu_neg": (lambda: nn.ELU(-0.5), -0.5),
    "selu": (lambda: nn.SELU(), None),
    "gelu": (lambda: nn.GELU(), None),
    "sigmoid": (lambda: nn.Sigmoid(), None),
    "tanh": (lambda: nn.Tanh(), None),
}


def ref_name(key):
    return key.replace("_neg", "")


def ref_param(key):
    p = LAYERS[key][1]
    return None if p is None else float(np.float32(p))


@pytest.mark.parametrize("key", list(LAYERS))
@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (3, 5, 7), (2, 3, 4, 5), (33,)])
def test_forward(isa, rng, key, shape):
    layer = LAYERS[key][0]()
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = layer(x)
    assert y.shape == x.shape and y.dtype == np.float32
    want = act64(ref_name(key), x, ref_param(key))
    np.testing.assert_allclose(y, want, rtol=8 * EPS32, atol=np.finfo(np.float32).tiny)


@pytest.mark.parametrize("key", list(LAYERS))
def test_backward_finite_differences(isa, rng, key):
    layer = LAYERS[key][0]()
    x = (rng.standard_normal((4, 9)) * 2).astype(np.float32)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks, where FD is meaningless
    g = rng.standard_normal(x.shape)
    layer(x)
    dx = layer.backward(g.astype(np.float32))
    fd = fd_grad(lambda v: act64(ref_name(key), v, ref_param(key)), x, g)
    np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-6 * np.abs(g).max())


@pytest.mark.parametrize("key", list(LAYERS))
def test_noncontiguous_and_float64_input(rng, key):
    layer = LAYERS[key][0]()
    base = rng.standard_normal((6, 10)) * 2
    for x in (base.astype(np.float32)[:, ::3], base.astype(np.float32).T, base):
        y = layer(x)
        x32 = x.astype(np.float32)  # the layer computes on float32
        np.testing.assert_allclose(y, act64(ref_name(key), x32, ref_param(key)), rtol=8 * EPS32,
                                   atol=1e-30)
        assert layer.backward(np.ones(y.shape, np.float32)).shape == x.shape


@pytest.mark.parametrize("key", list(LAYERS))
def test_backward_errors(key):
    layer = LAYERS[key][0]()
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        layer.backward(np.zeros((2, 3), np.float32))
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 3\), got \(3, 2\)"):
        layer.backward(np.zeros((3, 2), np.float32))


def test_repr_and_config():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softmax()) == "Softmax(dim=1)"
    model = nn.Sequential(nn.LeakyReLU(0.2), nn.ELU(0.3), nn.SELU(), nn.GELU(), nn.Sigmoid(),
                          nn.Tanh(), nn.Softmax(dim=-1), nn.ReLU())
    clone = nn.module_from_config(model.to_spec())
    assert repr(clone) == repr(model)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="tanh")
    with pytest.raises(TypeError, match="negative_slope"):
        nn.LeakyReLU("0.1")
    with pytest.raises(ValueError, match="alpha must be finite"):
        nn.ELU(float("inf"))
    with pytest.raises(TypeError, match="dim"):
        nn.Softmax(1.0)


def test_nan_propagates():
    x = np.array([[np.nan, 1.0, -1.0]], np.float32)
    for key, (make, _) in LAYERS.items():
        assert np.isnan(make()(x)[0, 0]), key
    assert np.all(np.isnan(nn.Softmax()(x)))


# ---- Softmax --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((1, 1), 1), ((5, 10), 1), ((3, 7, 4, 5), 1),
                                       ((2, 3, 9), -1), ((6, 4), 0)])
def test_softmax(isa, rng, shape, dim):
    layer = nn.Softmax(dim)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = layer(x)
    np.testing.assert_allclose(y, softmax64(x, dim), rtol=32 * EPS32, atol=1e-30)
    g = rng.standard_normal(shape)
    dx = layer.backward(g.astype(np.float32))
    fd = fd_grad(lambda v: softmax64(v, dim), x, g)
    np.testing.assert_allclose(dx, fd, rtol=1e-4, atol=1e-5)


def test_softmax_bad_dim():
    with pytest.raises(ValueError, match=r"Softmax\(dim=2\): input: dim 2 is out of range"):
        nn.Softmax(2)(np.zeros((3, 4), np.float32))


def test_matches_torch(torch, rng):
    pairs = [(nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
             (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.SELU(), torch.nn.SELU()),
             (nn.GELU(), torch.nn.GELU()), (nn.Sigmoid(), torch.nn.Sigmoid()),
             (nn.Tanh(), torch.nn.Tanh()), (nn.Softmax(1), torch.nn.Softmax(1))]
    x = (rng.standard_normal((8, 5, 3)) * 3).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    for ours, theirs in pairs:
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=repr(ours))
        np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=repr(ours))
