"""fit / evaluate / predict leave the model in the mode it had before the call, also when they
raise; after fit, model.eval() gives the deterministic inference outputs."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.train import Callback, TrainingDiverged


def _data(n=64, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)
    x = (r.standard_normal((3, 6))[y] * 3 + r.standard_normal((n, 6))).astype(np.float32)
    return x, y


def _model():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(16, 3))


def _modes(model):
    return {name: m.training for name, m in model.named_modules()}


def _fit(model, x, y, **kw):
    kw = {"epochs": 1, "batch_size": 16, "verbose": 0, "seed": 0, **kw}
    return fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), x, y,
                      **kw)


@pytest.mark.parametrize("training", [True, False])
def test_fit_restores_mode(training):
    x, y = _data()
    model = _model().train(training)
    _fit(model, x, y, validation_data=(x, y))
    assert set(_modes(model).values()) == {training}


def test_fit_restores_a_mixed_mode():
    x, y = _data()
    model = _model()
    model[3].eval()  # e.g. dropout switched off by hand: each layer gets its own mode back
    before = _modes(model)
    _fit(model, x, y)
    assert _modes(model) == before


class _Boom(Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("boom")


@pytest.mark.parametrize("training", [True, False])
def test_fit_restores_mode_when_it_raises(training):
    x, y = _data()
    model = _model().train(training)
    with pytest.raises(RuntimeError, match="boom"):
        _fit(model, x, y, callbacks=[_Boom()])
    assert set(_modes(model).values()) == {training}
    model.train(training)
    bad = x.copy()
    bad[5, 0] = np.nan
    with pytest.raises(TrainingDiverged):
        _fit(model, bad, y)
    assert set(_modes(model).values()) == {training}


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_and_predict_restore_mode_when_they_raise(training):
    x, y = _data()
    model = _model().train(training)
    y_bad = y.copy()
    y_bad[-1] = 7  # out of range: the loss raises inside the batch loop
    with pytest.raises(ValueError, match="out of range"):
        fastnn.evaluate(model, nn.CrossEntropyLoss(), x, y_bad, batch_size=16)
    assert set(_modes(model).values()) == {training}
    with pytest.raises(ValueError, match=r"expected shape \(\*, 6\)"):
        fastnn.predict(model, np.zeros((4, 5), np.float32))
    assert set(_modes(model).values()) == {training}
    fastnn.evaluate(model, nn.CrossEntropyLoss(), x, y)
    fastnn.predict(model, x)
    assert set(_modes(model).values()) == {training}


def test_eval_after_fit_gives_inference_outputs():
    x, y = _data()
    model = _model()
    _fit(model, x, y, epochs=2)
    assert model.training  # as before fit: a new model is in training mode (PyTorch's default)
    a = np.array(model(x))
    assert not np.array_equal(a, model(x))  # dropout is on: why model.eval() is needed
    model.eval()
    out = np.array(model(x))
    np.testing.assert_array_equal(out, model(x))
    np.testing.assert_allclose(out, fastnn.predict(model, x), rtol=1e-6, atol=1e-6)
