"""Bad optimizer input: a ValueError/TypeError naming the argument, before anything changes."""
import numpy as np
import pytest

from fastnn import optim
from fastnn.nn import Parameter


def params(n=2):
    return [Parameter(np.ones((3, 4), np.float32)) for _ in range(n)]


@pytest.mark.parametrize("cls,kwargs,match", [
    (optim.SGD, dict(lr=-0.1), "lr"),
    (optim.Adam, dict(lr=-1e-3), "lr"),
    (optim.Adam, dict(lr=float("nan")), "lr"),
    (optim.Adam, dict(eps=0.0), "eps"),
    (optim.Adam, dict(eps=-1e-8), "eps"),
    (optim.Adagrad, dict(eps=0.0), "eps"),
    (optim.RMSprop, dict(eps=0.0), "eps"),
    (optim.Adam, dict(betas=(1.0, 0.999)), r"betas\[0\]"),
    (optim.Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]"),
    (optim.AdamW, dict(betas=(0.9, 1.5)), r"betas\[1\]"),
    (optim.Adam, dict(betas=(0.9,)), "betas"),
    (optim.SGD, dict(momentum=-0.5), "momentum"),
    (optim.RMSprop, dict(momentum=-0.5), "momentum"),
    (optim.RMSprop, dict(alpha=1.5), "alpha"),
    (optim.SGD, dict(nesterov=True), "nesterov"),
    (optim.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
    (optim.SGD, dict(weight_decay=-1.0), "weight_decay"),
    (optim.Adam, dict(l1=-0.1), "l1"),
    (optim.Adam, dict(max_norm=0.0), "max_norm"),
    (optim.Adam, dict(max_norm=-1.0), "max_norm"),
    (optim.Adagrad, dict(lr_decay=-0.1), "lr_decay"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (optim.Adam, dict(momentum=0.9), "momentum"),          # unknown option for Adam
    (optim.SGD, dict(betas=(0.9, 0.99)), "betas"),
    (optim.Adam, dict(foreach=True), "foreach"),
])
def test_bad_options(cls, kwargs, match):
    ps = params()
    before = [p.data.copy() for p in ps]
    with pytest.raises(ValueError, match=match):
        cls(ps, **kwargs)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize("kwargs,match", [(dict(lr="fast"), "lr"), (dict(amsgrad=1), "amsgrad")])
def test_bad_option_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        optim.Adam(params(), **kwargs)


def test_empty_and_wrong_params():
    with pytest.raises(ValueError, match="params"):
        optim.Adam([])
    with pytest.raises(ValueError, match="params"):
        optim.SGD(iter(()), lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        optim.Adam([np.ones(3, np.float32)])
    with pytest.raises(TypeError, match="params"):
        optim.Adam(None)
    p = params(1)[0]
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([{"params": []}])
    with pytest.raises(ValueError, match="'params'"):
        optim.Adam([{"lr": 0.1}])
    with pytest.raises(ValueError, match="unknown option"):
        optim.Adam([{"params": [p], "momentum": 0.9}])
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        optim.Adam([{"params": [p], "betas": (2.0, 0.9)}])


def test_bad_arrays():
    p = Parameter(np.ones((3, 4), np.float32))
    p.grad = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="grads"):
        optim.SGD([p], lr=0.1)
    p = Parameter(np.ones((3, 4), np.float32))
    p.grad = np.ones((3, 4), np.float64)
    with pytest.raises(TypeError, match="float32"):
        optim.SGD([p], lr=0.1)
    p = Parameter(np.ones((3, 4), np.float32))
    p.mask = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="masks"):
        optim.SGD([p], lr=0.1)
    # Two parameters that are views of one array would update each other.
    base = np.ones((2, 8), np.float32)
    a, b = Parameter(base[0]), Parameter(base[1])
    a.data, b.data = base[0], base.reshape(16)[4:12]  # elements 4..7 are in both
    with pytest.raises(ValueError, match="share memory"):
        optim.SGD([a, Parameter(np.ones(3, np.float32))] + [b], lr=0.1)
    # A gradient that aliases its parameter.
    q = Parameter(np.ones(5, np.float32))
    q.grad = q.data
    with pytest.raises(ValueError, match="share memory"):
        optim.SGD([q], lr=0.1)


def test_bad_values_set_later_fail_before_any_change():
    ps = params()
    for p in ps:
        p.grad[...] = 1.0
    opt = optim.Adam(ps, lr=0.1)
    opt.step()
    state = {k: v.copy() for k, v in opt.state.items()}
    data = [p.data.copy() for p in ps]
    for key, val, match in [("lr", -0.1, "lr"), ("betas", (0.9, 1.0), r"betas\[1\]"),
                            ("eps", 0.0, "eps"), ("lr", "x", "lr"),
                            ("amsgrad", True, "amsgrad")]:
        good = opt.param_groups[0][key]
        opt.param_groups[0][key] = val
        with pytest.raises((ValueError, TypeError), match=match):
            opt.step()
        opt.param_groups[0][key] = good
        for p, d in zip(ps, data):
            np.testing.assert_array_equal(p.data, d)
        for k, v in opt.state.items():
            np.testing.assert_array_equal(v, state[k])
    opt.step()
    assert list(opt.state["step"]) == [2, 2]
