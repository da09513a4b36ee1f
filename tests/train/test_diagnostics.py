"""Diagnostics (statistics gathered by the C++ activation kernels) and where a NaN starts."""
import math
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import _C, nn, optim
from fastnn.train import Diagnostics, DiagnosticsWarning, TrainingDiverged, find_nonfinite


def _data(n=256, d=4, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


@pytest.mark.parametrize("code", [_C.Unary(c) for c in (1, 2, 3, 5, 6, 7)])
def test_kernel_statistics_match_numpy(isa, rng, code):
    x = rng.standard_normal((5, 7, 9, 11)).astype(np.float32)
    x[:, 2] = -1.0
    st = np.zeros(3 + 7)
    y = _C.unary_forward(x, code, 0.1, "act", st)
    y64 = y.astype(np.float64)
    assert st[0] == y.size
    np.testing.assert_allclose(st[1:3], [y64.sum(), (y64 ** 2).sum()], rtol=1e-5)
    np.testing.assert_array_equal(st[3:], (y > 0).sum(axis=(0, 2, 3)))
    g = rng.standard_normal(y.shape).astype(np.float32)
    sb = np.zeros(3 + 7)
    xin = x if _C.unary_backward_needs_input(code, 0.1) else None
    dx = _C.unary_backward(xin, y, g, code, 0.1, "act", sb).astype(np.float64)
    np.testing.assert_allclose(sb[1:3], [dx.sum(), (dx ** 2).sum()], rtol=1e-4, atol=1e-6)
    # a second call adds (the accumulator spans an epoch); (N, C) and a fused output alike
    y2 = _C.unary_forward(x[:, :, 0, 0], code, 0.1, "act", st)
    _C.act_stats(y2, st)
    np.testing.assert_array_equal(st[3:], (y > 0).sum(axis=(0, 2, 3)) + 2 * (y2 > 0).sum(0))


def test_kernel_statistics_large_and_wrapping(rng):
    # more blocks than one, rows shorter than a block: every channel path of the reduction
    x = rng.standard_normal((3, 5000, 17)).astype(np.float32)
    st = np.zeros(3 + 5000)
    y = _C.unary_forward(x, _C.Unary.relu, 0.0, "r", st)
    np.testing.assert_array_equal(st[3:], (y > 0).sum(axis=(0, 2)))
    x = rng.standard_normal((300, 3001)).astype(np.float32)
    st = np.zeros(3 + 3001)
    y = _C.unary_forward(x, _C.Unary.relu, 0.0, "r", st)
    np.testing.assert_array_equal(st[3:], (y > 0).sum(axis=0))


def test_kernel_statistics_bad_accumulator():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="stats.*6 elements"):
        _C.unary_forward(x, _C.Unary.relu, 0.0, "ReLU()", np.zeros(5))
    with pytest.raises(TypeError, match="stats"):
        _C.unary_forward(x, _C.Unary.relu, 0.0, "ReLU()", np.zeros(6, np.float32))


def _forced_dead(n_dead, width=8):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
    w, b = model[0].weight.data, model[0].bias.data
    w[:n_dead] = 0.0
    b[:n_dead] = -1.0  # these units output max(-1, 0) = 0 for every input
    b[n_dead:] = 5.0   # and these fire for the inputs used here
    w[n_dead:] *= 0.1
    model[0].requires_grad_(False)
    return model


def test_dead_fraction_exact_and_warning():
    x, y = _data()
    model = _forced_dead(3)
    d = Diagnostics()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), x, y,
               epochs=2, batch_size=64, verbose=0, callbacks=[d])
    assert d.dead_fraction() == {"1": 3 / 8}
    assert d.history["dead_fraction"]["1"] == [3 / 8, 3 / 8]
    assert not d.warnings
    model = _forced_dead(5)
    d = Diagnostics()
    with pytest.warns(DiagnosticsWarning, match=r"1 \(ReLU\): 62% .*He init.*Leaky ReLU.*bias"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), x, y,
                   epochs=1, verbose=0, callbacks=[d])
    assert d.dead_fraction() == {"1": 5 / 8}


def test_conv_units_are_channels():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 36, 2))
    model[0].weight.data[1] = 0.0
    model[0].bias.data[1] = -1.0
    model[0].requires_grad_(False)
    r = np.random.default_rng(1)
    x = r.random((32, 1, 6, 6)).astype(np.float32)
    d = Diagnostics(warn=False)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), x,
               r.integers(0, 2, 32), epochs=1, verbose=0, callbacks=[d])
    assert d.dead_fraction()["1"] == 0.25


def test_grad_norms_and_statistics_against_numpy():
    x, y = _data(64)
    fastnn.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    w0, b0 = model[0].weight.data.copy(), model[0].bias.data.copy()
    w2 = model[2].weight.data.copy()
    d = Diagnostics()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=1, batch_size=64, shuffle=False, verbose=0, callbacks=[d])
    # one step: the gradient is still in .grad; compare the norms with numpy's
    for name, p in model.named_parameters():
        assert d.grad_norms()[name][0] == pytest.approx(np.linalg.norm(p.grad), rel=1e-5)
    h = np.tanh(x.astype(np.float64) @ w0.T + b0)
    mean, std = d.activation_stats()["1"]
    assert mean == pytest.approx(h.mean(), abs=1e-5) and std == pytest.approx(h.std(), rel=1e-4)
    # update ratio of SGD: lr * ||g|| / ||w||
    g = model[2].weight.grad
    assert d.update_ratios()["2.weight"][0] == pytest.approx(
        0.1 * np.linalg.norm(g) / np.linalg.norm(w2), rel=1e-4)


def test_every_and_vanishing_warning():
    x, y = _data()
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))
    model[0].weight.data[:] = 0.0
    model[2].weight.data[:] = 1e-9  # almost no gradient reaches layer 0
    model[2].requires_grad_(False)
    d = Diagnostics(every=2, vanish_threshold=1e-6)
    with pytest.warns(DiagnosticsWarning, match=r"0\.(weight|bias): .*vanishing.*He init"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-3), x, y,
                   epochs=3, verbose=0, callbacks=[d])
    assert d.history["epoch"] == [0, 2]
    assert d.history["grad_in_rms"] == {}  # backward statistics are opt-in
    assert len(d.grad_norms()["0.weight"]) == 2
    assert model[1]._diag is None  # probes detached after training


def test_exploding_warning():
    x, y = _data()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.warns(DiagnosticsWarning, match="exploding.*clip"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-9),
                   x * 1e5, y, epochs=1, verbose=0, callbacks=[Diagnostics()])


def test_diagnostics_arguments():
    with pytest.raises(ValueError, match="every"):
        Diagnostics(every=0)
    with pytest.raises(ValueError, match="dead_threshold"):
        Diagnostics(dead_threshold=-1)


def test_nan_origin_forward_inf_weight():
    x, y = _data()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    model[2].weight.data[0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match=r"layer 2 \(Linear\), in the forward pass") as e:
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   verbose=0)
    assert e.value.origin.layer == "2" and e.value.origin.phase == "forward"


def _backward_overflow_model():
    # forward finite (layer 0 outputs exactly 0, so the huge weight of layer 2 meets zeros), but
    # its backward multiplies the incoming gradient by 3e38: overflow, only backward
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    model[0].weight.data[:] = 0.0
    model[0].bias.data[:] = 0.0
    model[2].weight.data[:] = 3e38
    return model


@pytest.mark.parametrize("how", ["diagnostics", "clip"])
def test_nan_origin_backward_only(how):
    x, _ = _data(32)
    y = np.full((32, 1), 100.0, np.float32)
    model = _backward_overflow_model()
    before = model.state_dict()
    kw = ({"callbacks": [Diagnostics(warn=False)]} if how == "diagnostics"
          else {"clip_grad_norm": 1.0})
    with pytest.raises(TrainingDiverged, match=r"gradient .*non-finite.*layer 2 \(Linear\), in "
                                               r"the backward pass") as e:
        fastnn.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   batch_size=32, verbose=0, **kw)
    assert (e.value.origin.layer, e.value.origin.phase) == ("2", "backward")
    for k, v in model.state_dict().items():  # the bad step was not applied
        np.testing.assert_array_equal(v, before[k])


def test_find_nonfinite_direct():
    x, _ = _data(16)
    model = _backward_overflow_model()
    o = find_nonfinite(model, nn.MSELoss(), x, np.full((16, 1), 100.0, np.float32))
    assert o.label == "2 (Linear)" and o.phase == "backward"
    assert "forward" not in str(o)
    model = nn.Sequential(nn.Linear(4, 2))
    assert find_nonfinite(model, nn.MSELoss(), x, np.zeros((16, 2), np.float32)) is None
    x[3, 1] = np.nan
    assert find_nonfinite(model, nn.MSELoss(), x, np.zeros((16, 2), np.float32)).phase == "input"
    assert "forward" not in model[0].__dict__  # the checks are removed afterwards


def test_nested_model_names_and_eval_mode_kept():
    x, y = _data(64)
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8),
                          nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU())), nn.Linear(8, 2))
    d = Diagnostics(warn=False, grad_stats=True, update_every=3)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=1, batch_size=16, verbose=0, callbacks=[d])
    assert set(d.dead_fraction()) == {"2.block.1"}
    assert d._usteps == 2  # steps 0 and 3 of 4
    g = d.history["grad_in_rms"]["2.block.1"][0]
    assert np.isfinite(g) and g > 0
    assert "2.block.0.weight" in d.grad_norms()
    model.eval()
    running = model[1].running_mean.copy()
    model[2].block[0].weight.data[0, 0] = np.inf
    o = find_nonfinite(model, nn.CrossEntropyLoss(), x, y)
    assert o.label == "2.block.0 (Linear)" and o.phase == "forward"
    assert not model.training and not model[1].training
    np.testing.assert_array_equal(model[1].running_mean, running)
