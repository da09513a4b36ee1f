"""fit / evaluate with the losses' targets and default metrics: regression logs no accuracy,
(N,) targets for one output, whole-number float class labels, bad targets refused before the
first step with what is expected, metrics that pair outputs and targets or refuse."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.train import metrics as M


def _regression(n=80, d=5, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    y = (x @ r.standard_normal(d) + 0.1 * r.standard_normal(n)).astype(np.float32)
    return x, y


def _classes(n=90, d=6, k=3, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, k, n)
    x = (r.standard_normal((k, d))[y] * 3 + r.standard_normal((n, d))).astype(np.float32)
    return x, y


def _net(d_in, d_out, bn=True):
    fastnn.manual_seed(0)
    layers = [nn.Linear(d_in, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + \
        [nn.ReLU(), nn.Linear(8, d_out)]
    return nn.Sequential(*layers)


def _fit(model, loss, x, y, **kw):
    kw = {"epochs": 2, "batch_size": 16, "verbose": 0, "seed": 0, **kw}
    return fastnn.fit(model, loss, optim.SGD(model.parameters(), lr=0.05), x, y, **kw)


def _state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.HuberLoss()])
def test_regression_logs_no_accuracy_by_default(loss):
    x, y = _regression()
    h = _fit(_net(5, 1), loss, x, y, validation_split=0.25)
    assert set(h.history) == {"loss", "val_loss", "lr"}
    assert set(fastnn.evaluate(_net(5, 1), loss, x, y)) == {"loss"}


@pytest.mark.parametrize("loss, d_out, y_of", [
    (nn.CrossEntropyLoss(), 3, lambda y: y),
    (nn.BCEWithLogitsLoss(), 1, lambda y: (y == 0).astype(np.float32)),
])
def test_classification_logs_accuracy_by_default(loss, d_out, y_of):
    x, y = _classes()
    h = _fit(_net(6, d_out), loss, x, y_of(y), validation_split=0.25)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}


def test_mae_on_request_matches_numpy():
    x, y = _regression()
    model = _net(5, 1)
    h = _fit(model, nn.MSELoss(), x, y, metrics=["mae", "mse"], validation_data=(x, y))
    assert {"mae", "mse", "val_mae", "val_mse"} <= set(h.history)
    pred = fastnn.predict(model, x)[:, 0].astype(np.float64)
    assert h.history["val_mae"][-1] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
    assert h.history["val_mse"][-1] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)
    assert h.history["val_mse"][-1] == pytest.approx(h.history["val_loss"][-1], rel=1e-5)


@pytest.mark.parametrize("make", [nn.MSELoss, nn.HuberLoss, nn.BCEWithLogitsLoss])
def test_target_n_for_one_output_trains_as_n_by_1(make):
    x, y = _regression()
    if make is nn.BCEWithLogitsLoss:
        y = (y > 0).astype(np.float32)
    runs = []
    for target in (y, y[:, None]):
        model = _net(5, 1)
        h = _fit(model, make(), x, target, validation_data=(x, target))
        runs.append((h.history, _state(model)))
    assert runs[0][0] == runs[1][0]
    assert _same_state(runs[0][1], runs[1][1])


@pytest.mark.parametrize("y_shape, msg", [
    ((80, 2), r"y: MSELoss expects targets of the model's output shape \(N, 1\) or \(N,\), got "
              r"\(80, 2\)"),
    ((80, 1, 1), r"got \(80, 1, 1\)"),
])
def test_bad_regression_target_refused_before_training(y_shape, msg):
    x, _ = _regression()
    model = _net(5, 1)
    before = _state(model)
    with pytest.raises(ValueError, match=msg):
        _fit(model, nn.MSELoss(), x, np.zeros(y_shape, np.float32))
    assert _same_state(_state(model), before)  # not even batch-norm statistics moved


def test_target_n_for_several_outputs_refused():
    x, y = _regression()
    with pytest.raises(ValueError, match=r"expects targets of the model's output shape \(N, 2\), "
                                         r"got \(80,\)"):
        _fit(_net(5, 2), nn.MSELoss(), x, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_whole_float_class_labels_train_as_integers(dtype):
    x, y = _classes()
    runs = []
    for labels in (y, y.astype(dtype)):
        model = _net(6, 3)
        h = _fit(model, nn.CrossEntropyLoss(), x, labels, validation_data=(x, labels))
        runs.append((h.history, _state(model)))
        assert fastnn.evaluate(model, nn.CrossEntropyLoss(), x, labels)["accuracy"] == \
            h.history["val_accuracy"][-1]
    assert runs[0][0] == runs[1][0]
    assert _same_state(runs[0][1], runs[1][1])


@pytest.mark.parametrize("where", ["y", "validation_data"])
def test_non_integral_float_labels_refused_with_what_is_expected(where):
    x, y = _classes()
    bad = y.astype(np.float64)
    bad[7] = 1.5
    model = _net(6, 3)
    before = _state(model)
    kw = {"validation_data": (x, bad)} if where == "validation_data" else {}
    with pytest.raises(ValueError) as e:
        _fit(model, nn.CrossEntropyLoss(), x, bad if where == "y" else y, **kw)
    msg = str(e.value)
    assert msg == (f"{where}: CrossEntropyLoss expects integer class indices in [0, 3) of shape "
                   f"(N,), got the non-integral value 1.5 at position 7")
    assert "float32" not in msg
    assert _same_state(_state(model), before)


def test_class_labels_out_of_range_and_one_hot_refused():
    x, y = _classes()
    with pytest.raises(ValueError, match=r"y: labels must be class indices in \[0, 3\) for a "
                                         r"model with 3 outputs, got values in \[0, 3\]"):
        _fit(_net(6, 3), nn.CrossEntropyLoss(), x, np.where(y == 2, 3.0, y))
    with pytest.raises(ValueError, match=r"one-hot / probability targets are not supported: "
                                         r"pass y.argmax\(1\)"):
        _fit(_net(6, 3), nn.CrossEntropyLoss(), x, np.eye(3)[y])


def test_bce_accuracy_is_elementwise_for_multilabel():
    out = np.array([[2.0, -1.0, 0.5], [-3.0, 1.0, -0.2]], np.float32)
    t = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
    fns = M.resolve_metrics("auto", nn.BCEWithLogitsLoss())
    assert fns["accuracy"](out, t) == pytest.approx(4 / 6)
    x = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    y = (x[:, :3] > 0).astype(np.float32)
    h = _fit(_net(6, 3), nn.BCEWithLogitsLoss(), x, y)
    assert 0.0 <= h.history["accuracy"][-1] <= 1.0


def test_metrics_refuse_targets_they_cannot_pair():
    out = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"accuracy: target: expected class indices of shape "
                                         r"\(4,\) or one-hot targets of shape \(4, 3\), "
                                         r"got \(4, 2\)"):
        M.accuracy(out, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"mae: target: expected shape \(4, 1\)"):
        M.mae(np.zeros((4, 1), np.float32), np.zeros((4, 4)))  # never a (4, 4) broadcast
    assert M.mae(np.zeros((4, 1), np.float32), np.ones(4)) == 1.0
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'r2'"):
        M.resolve_metrics(["r2"], nn.MSELoss())


def test_cross_entropy_needs_logits_n_by_c_before_training():
    x = np.random.default_rng(0).standard_normal((8, 1, 4, 4)).astype(np.float32)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3))
    before = _state(model)
    with pytest.raises(ValueError, match=r"model: CrossEntropyLoss expects logits of shape "
                                         r"\(N, C\), the model gives \(N, 3, 4, 4\)"):
        _fit(model, nn.CrossEntropyLoss(), x, np.zeros(8, np.int64))
    assert _same_state(_state(model), before)
