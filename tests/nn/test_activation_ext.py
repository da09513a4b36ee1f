"""Hardtanh, ReLU6, Hardsigmoid, Hardswish, Softplus, Softsign, PReLU and LogSoftmax against
PyTorch forward and backward (every ISA path, lengths around the vector widths), PReLU's weight
gradient and state_dict, configs and reprs, and the arguments' errors."""
import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from tests.reference_layers import EPS32

SIZES = [1, 7, 8, 9, 17, 33, 1000]


def _pairs(torch):
    t = torch.nn
    return {
        "hardtanh": (lambda: nn.Hardtanh(), lambda: t.Hardtanh()),
        "hardtanh_args": (lambda: nn.Hardtanh(-0.5, 2.0), lambda: t.Hardtanh(-0.5, 2.0)),
        "relu6": (lambda: nn.ReLU6(), lambda: t.ReLU6()),
        "hardsigmoid": (lambda: nn.Hardsigmoid(), lambda: t.Hardsigmoid()),
        "hardswish": (lambda: nn.Hardswish(), lambda: t.Hardswish()),
        "softplus": (lambda: nn.Softplus(), lambda: t.Softplus()),
        "softplus_args": (lambda: nn.Softplus(2.0, 3.0), lambda: t.Softplus(2.0, 3.0)),
        "softsign": (lambda: nn.Softsign(), lambda: t.Softsign()),
        "prelu": (lambda: nn.PReLU(), lambda: t.PReLU()),
        "logsoftmax": (lambda: nn.LogSoftmax(1), lambda: t.LogSoftmax(1)),
        "logsoftmax_last": (lambda: nn.LogSoftmax(-1), lambda: t.LogSoftmax(-1)),
    }


def _compare(torch, ours, theirs, x, g, what, rtol=1e-5):
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    y = ours(x)
    scale = max(1.0, float(np.abs(yt.detach().numpy()).max()))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=rtol, atol=1e-6 * scale,
                               err_msg=f"{what} forward")
    dx = ours.backward(g)
    gscale = max(1.0, float(np.abs(xt.grad.numpy()).max()))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=rtol, atol=1e-6 * gscale,
                               err_msg=f"{what} backward")
    return xt


@pytest.mark.parametrize("key", ["hardtanh", "hardtanh_args", "relu6", "hardsigmoid",
                                 "hardswish", "softplus", "softplus_args", "softsign", "prelu",
                                 "logsoftmax", "logsoftmax_last"])
@pytest.mark.parametrize("n", SIZES)
def test_matches_torch(isa, torch, rng, key, n):
    make, make_t = _pairs(torch)[key]
    ours, theirs = make(), make_t()
    x = (rng.standard_normal((3, n)) * 4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xt = _compare(torch, ours, theirs, x, g, f"{key}, (3, {n})")
    if key == "prelu":
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5,
                                   atol=1e-5 * np.sqrt(x.size))
    del xt


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 3, 17), (5, 3)])
@pytest.mark.parametrize("key", ["relu6", "hardswish", "softplus_args", "logsoftmax"])
def test_matches_torch_nd(torch, rng, key, shape):
    make, make_t = _pairs(torch)[key]
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    _compare(torch, make(), make_t(), x, g, f"{key} {shape}")


@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1])
def test_log_softmax_any_dim(torch, rng, dim):
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    _compare(torch, nn.LogSoftmax(dim), torch.nn.LogSoftmax(dim), x, g, f"dim {dim}")


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 1), (2, 3, 7), (2, 3, 8, 9), (1, 3, 33, 17)])
def test_prelu_per_channel(isa, torch, rng, shape):
    ours, theirs = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
    w = rng.uniform(-0.5, 0.5, 3).astype(np.float32)
    ours.weight.data[...] = w
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    _compare(torch, ours, theirs, x, g, f"PReLU(3) {shape}")
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5,
                               atol=1e-5 * np.sqrt(x.size))
    # a second backward accumulates, as PyTorch's .grad does
    before = ours.weight.grad.copy()
    ours(x)
    ours.backward(g)
    np.testing.assert_allclose(ours.weight.grad, 2 * before, rtol=1e-6, atol=1e-6)


def test_prelu_state_dict_matches_torch(torch):
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.PReLU(6, init=0.3))
    ours = nn.Sequential(nn.Linear(4, 6), nn.PReLU(6, init=0.3))
    sd_t = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    sd = ours.state_dict()
    assert list(sd) == list(sd_t) == ["0.weight", "0.bias", "1.weight"]
    assert sd["1.weight"].shape == sd_t["1.weight"].shape == (6,)
    np.testing.assert_array_equal(sd["1.weight"], sd_t["1.weight"])
    ours.load_state_dict(sd_t)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_prelu_frozen_weight_has_no_grad(rng):
    layer = nn.PReLU(2)
    layer.weight.requires_grad = False
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    layer(x)
    layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(layer.weight.grad, np.zeros(2, np.float32))


def test_prelu_trains_with_sgd(rng):
    # The slope is a Parameter the optimizers see and move.
    layer = nn.PReLU(1, init=0.0)
    opt = fastnn.optim.SGD(layer.parameters(), lr=0.1)
    x = -np.abs(rng.standard_normal((8, 5))).astype(np.float32)
    layer(x)
    layer.backward(-np.ones_like(x))  # loss = -sum(y): d/dw = -sum(x) > 0 pushes w down
    opt.step()
    assert layer.weight.data[0] < 0.0


def test_reprs_and_configs_round_trip():
    model = nn.Sequential(nn.Hardtanh(-2.0, 3.0), nn.ReLU6(), nn.Hardsigmoid(),
                          nn.Hardsigmoid(0.2, 0.5), nn.Hardswish(), nn.Softplus(2.0, 10.0),
                          nn.Softsign(), nn.PReLU(4, init=0.1), nn.LogSoftmax(-1))
    assert repr(model[0]) == "Hardtanh(min_val=-2.0, max_val=3.0)"
    assert repr(model[1]) == "ReLU6()"
    assert repr(model[2]) == "Hardsigmoid()"
    assert repr(model[3]) == "Hardsigmoid(alpha=0.2, beta=0.5)"
    assert repr(model[5]) == "Softplus(beta=2.0, threshold=10.0)"
    assert repr(model[7]) == "PReLU(num_parameters=4)"
    assert repr(model[8]) == "LogSoftmax(dim=-1)"
    clone = nn.module_from_config(model.to_spec())
    assert repr(clone) == repr(model)
    assert type(clone[1]) is nn.ReLU6 and clone[1].max_val == 6.0
    np.testing.assert_array_equal(clone[7].weight.data, np.full(4, 0.1, np.float32))


def test_save_load_round_trip(tmp_path, rng):
    model = nn.Sequential(nn.Linear(5, 4), nn.PReLU(4), nn.Softplus(1.5), nn.Linear(4, 3),
                          nn.LogSoftmax(1))
    model[1].weight.data[...] = rng.standard_normal(4)
    path = tmp_path / "m.fnn"
    fastnn.save(model, str(path))
    back = fastnn.load(str(path))
    x = rng.standard_normal((6, 5)).astype(np.float32)
    np.testing.assert_array_equal(back(x), model(x))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="max_val must be greater than min_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match="min_val must not be NaN"):
        nn.Hardtanh(float("nan"), 1.0)
    with pytest.raises(TypeError, match="max_val"):
        nn.Hardtanh(0.0, "6")
    with pytest.raises(ValueError, match="beta must be nonzero"):
        nn.Softplus(0.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        nn.Softplus(1.0, float("inf"))
    with pytest.raises(ValueError, match="alpha must be finite"):
        nn.Hardsigmoid(float("nan"))
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(2.5)
    with pytest.raises(ValueError, match="init must be finite"):
        nn.PReLU(1, init=float("inf"))
    with pytest.raises(TypeError, match="dim"):
        nn.LogSoftmax(None)
    with pytest.raises(ValueError, match=r"PReLU\(num_parameters=4\): input: expected 4 channels"):
        nn.PReLU(4)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"LogSoftmax\(dim=2\): input: dim 2 is out of range"):
        nn.LogSoftmax(2)(np.ones((2, 3), np.float32))
    for layer in (nn.PReLU(), nn.LogSoftmax(), nn.Softplus()):
        with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
            layer.backward(np.zeros((2, 3), np.float32))


def test_backward_grad_shape_checked():
    for layer in (nn.PReLU(), nn.Hardswish(), nn.LogSoftmax()):
        layer(np.zeros((2, 3), np.float32))
        with pytest.raises(ValueError, match=r"grad_out: expected shape"):
            layer.backward(np.zeros((3, 2), np.float32))


def test_not_fused_into_linear(rng):
    # Only the GEMM epilogue's activations fuse; these run after the product, same result.
    lin = nn.Linear(6, 5)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for act in (nn.ReLU6(), nn.Hardswish(), nn.Softplus()):
        assert act.epilogue() is None
        model = nn.Sequential(lin, act)
        np.testing.assert_array_equal(model(x), act(lin(x)))


def test_float64_and_noncontiguous_input(rng):
    base = rng.standard_normal((6, 10)) * 3
    for layer in (nn.ReLU6(), nn.Hardswish(), nn.Softsign(), nn.PReLU(), nn.LogSoftmax(1)):
        for x in (base.astype(np.float32)[:, ::3], base.astype(np.float32).T, base):
            y = layer(x)
            np.testing.assert_allclose(y, layer(np.ascontiguousarray(x, np.float32)), rtol=0,
                                       atol=0)
            assert layer.backward(np.ones(y.shape, np.float32)).shape == x.shape


def test_float_tolerance_is_tight(torch, rng):
    # eps-scale agreement on the plain float paths (a check that the comparisons above are not
    # loose enough to hide a wrong branch)
    x = (rng.standard_normal((4, 33)) * 4).astype(np.float32)
    for ours, theirs in [(nn.ReLU6(), torch.nn.ReLU6()), (nn.Hardswish(), torch.nn.Hardswish()),
                         (nn.Softsign(), torch.nn.Softsign())]:
        np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).numpy(), rtol=4 * EPS32,
                                   atol=4 * EPS32)
