"""Every kind of model fastnn produces -- dense, BatchNorm-folded, magnitude-pruned (masks),
unit-pruned, sparse (to_sparse), int8 static and dynamic (QuantizedModel), MLP and CNN -- works
with fastnn.predict, fastnn.evaluate, fastnn.save / fastnn.load and, when it is trainable, fit
with validation data; fit refuses the inference-only kinds before anything changes."""
import copy
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim, prune, quant

TRAINABLE = ["dense", "folded", "masked", "unit_pruned"]
INFERENCE_ONLY = ["sparse", "quantized", "quantized_dynamic"]
KINDS = [(f, k) for f in ("mlp", "cnn") for k in TRAINABLE + INFERENCE_ONLY
         if not (f == "cnn" and k == "quantized_dynamic")]  # dynamic quantization: Linear only


def _data(family):
    r = np.random.default_rng(0)
    n = 96
    y = r.integers(0, 3, n)
    if family == "mlp":
        centers = r.standard_normal((3, 8)) * 3
        x = centers[y] + r.standard_normal((n, 8))
    else:
        x = r.standard_normal((n, 1, 8, 8)) * 0.3
        for c in range(3):  # a class is a bright stripe at a different row
            x[y == c, 0, 2 * c + 1, :] += 2.0
    return x.astype(np.float32), y.astype(np.int64)


def _float_model(family):
    fastnn.manual_seed(0)
    if family == "mlp":
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                              nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    else:
        model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.2),
                              nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = _data(family)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), x, y,
               epochs=3, batch_size=16, verbose=0, seed=0)
    return model


_CACHE = {}


def _make(family, kind):
    """A fresh model of this kind (built from a cached trained float model)."""
    if family not in _CACHE:
        _CACHE[family] = _float_model(family)
    base = copy.deepcopy(_CACHE[family])
    x, _ = _data(family)
    if kind == "dense":
        return base
    if kind == "folded":
        return quant.fold_batchnorm(base).train()
    if kind == "masked":
        prune.magnitude_prune(base, 0.5)
        return base
    if kind == "unit_pruned":
        prune.unit_prune(base, 0.25)
        return base
    if kind == "sparse":
        prune.magnitude_prune(base, 0.8)
        return prune.to_sparse(base, min_sparsity=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", quant.QuantizationWarning)
        if kind == "quantized":
            return quant.quantize(base, x[:64], check_speed=False)
        return quant.quantize_dynamic(base)


def _reference_outputs(model, x, batch_size=40):
    """What inference should give: the model called on each batch in eval mode (dynamic
    quantization takes each batch's own input scale, so the batches must be the same)."""
    was = model.training
    model.eval()
    out = np.concatenate([np.array(model(x[i:i + batch_size]))
                          for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def _ce(out, y):
    z = out - out.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))


@pytest.mark.parametrize("family, kind", KINDS)
def test_predict(family, kind):
    model = _make(family, kind)
    x, _ = _data(family)
    has_train_mode = "quantized" not in kind  # a QuantizedModel is always in eval mode
    if has_train_mode:
        model.train()
    out = fastnn.predict(model, x, batch_size=40)
    assert out.shape == (len(x), 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reference_outputs(model, x), rtol=1e-5, atol=1e-5)
    assert model.training is has_train_mode  # mode as it was before predict


@pytest.mark.parametrize("family, kind", KINDS)
def test_evaluate(family, kind):
    model = _make(family, kind)
    x, y = _data(family)
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(), x, y, batch_size=40)
    assert set(res) == {"loss", "accuracy"}
    ref = _reference_outputs(model, x)
    assert res["loss"] == pytest.approx(_ce(ref.astype(np.float64), y), rel=1e-4, abs=1e-5)
    assert res["accuracy"] == pytest.approx(float(np.mean(ref.argmax(1) == y)))
    assert res["accuracy"] > 0.6  # the models learnt something: a wrong wiring would show


@pytest.mark.parametrize("family, kind", KINDS)
def test_save_load_then_predict_and_evaluate(tmp_path, family, kind):
    model = _make(family, kind)
    x, y = _data(family)
    path = fastnn.save(model, tmp_path / f"{kind}.safetensors")
    back = fastnn.load(path)
    assert type(back) is type(model)
    np.testing.assert_array_equal(fastnn.predict(back, x), fastnn.predict(model, x))
    assert fastnn.evaluate(back, nn.CrossEntropyLoss(), x, y) == \
        fastnn.evaluate(model, nn.CrossEntropyLoss(), x, y)


@pytest.mark.parametrize("family, kind", [fk for fk in KINDS if fk[1] in TRAINABLE])
def test_fit_with_validation(tmp_path, family, kind):
    model = _make(family, kind)
    x, y = _data(family)
    masks = {n: None if p.mask is None else p.mask.copy() for n, p in model.named_parameters()}
    h = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                   x[:64], y[:64], validation_data=(x[64:], y[64:]), epochs=2, batch_size=16,
                   verbose=0, seed=1)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    ev = fastnn.evaluate(model, nn.CrossEntropyLoss(), x[64:], y[64:])
    assert ev["loss"] == pytest.approx(h.history["val_loss"][-1], rel=1e-6)
    for n, p in model.named_parameters():  # pruned weights stay pruned through training
        if masks[n] is not None:
            assert not p.data[masks[n] == 0].any()
    # a model of this kind loaded from a file trains and validates too
    path = fastnn.save(model, tmp_path / "m.safetensors")
    back = fastnn.load(path)
    h = fastnn.fit(back, nn.CrossEntropyLoss(), optim.Adam(back.parameters(), lr=1e-3), x[:64],
                   y[:64], validation_data=(x[64:], y[64:]), epochs=1, verbose=0, seed=2)
    assert h.history["val_loss"][-1] == pytest.approx(
        fastnn.evaluate(back, nn.CrossEntropyLoss(), x[64:], y[64:])["loss"], rel=1e-6)


@pytest.mark.parametrize("family, kind", [fk for fk in KINDS if fk[1] in INFERENCE_ONLY])
def test_fit_refuses_inference_only_models_before_anything_changes(family, kind):
    model = _make(family, kind)
    x, y = _data(family)
    before = fastnn.predict(model, x)
    params = list(model.parameters()) if isinstance(model, nn.Module) else []
    opt = optim.SGD(params or [nn.Parameter(np.zeros(1))], lr=0.1)
    match = "QuantizedModel runs inference only" if kind.startswith("quant") else \
        r"\(SparseLinear\).*inference-only.*to_sparse"
    with pytest.raises(TypeError, match=match):
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, validation_data=(x, y), verbose=0)
    np.testing.assert_array_equal(fastnn.predict(model, x), before)


def test_quantized_model_modes():
    q = _make("mlp", "quantized")
    assert q.training is False and q.eval() is q and q.train(False) is q
    with pytest.raises(ValueError, match="inference only"):
        q.train()


def test_one_dimensional_x_is_refused_not_read_as_single_samples():
    model = nn.Sequential(nn.Linear(16, 3))  # a slice of 16 scalars would fit Linear(16, .)
    with pytest.raises(ValueError, match=r"x: expected a non-empty array with samples on axis 0 "
                                         r"\(N, \.\.\.\), got shape \(32,\); for one sample pass "
                                         r"x\[None\]"):
        fastnn.predict(model, np.zeros(32, np.float32), batch_size=16)
    with pytest.raises(ValueError, match=r"x: expected"):
        fastnn.evaluate(model, nn.CrossEntropyLoss(), np.zeros(32), np.zeros(32, np.int64))


def test_predict_and_evaluate_refuse_non_models():
    x, y = _data("mlp")
    with pytest.raises(TypeError, match=r"model: expected a fastnn model"):
        fastnn.predict("model.safetensors", x)
    with pytest.raises(TypeError, match=r"model: expected a fastnn model"):
        fastnn.evaluate(None, nn.CrossEntropyLoss(), x, y)
