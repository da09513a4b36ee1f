"""Bad input to fastnn.prune: a ValueError/TypeError naming the argument, model unchanged."""
import numpy as np
import pytest

from fastnn import nn
from fastnn.prune import (magnitude_prune, remove_masks, sparsity_report, to_sparse,
                          unit_prune)
from tests.prune.helpers import assert_unchanged, mlp, snapshot

CALLS = {
    "magnitude_layer": lambda m, **kw: magnitude_prune(m, **kw),
    "magnitude_global": lambda m, **kw: magnitude_prune(m, scope="global", **kw),
    "unit": lambda m, **kw: unit_prune(m, **kw),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("amount, exc", [(1.0, ValueError), (-0.1, ValueError),
                                         (1.5, ValueError), (float("nan"), ValueError),
                                         ("0.5", TypeError), (True, TypeError),
                                         (None, TypeError)])
def test_amount(call, amount, exc):
    model = mlp()
    magnitude_prune(model, 0.3, layers=["2"])
    snap = snapshot(model)
    with pytest.raises(exc, match="amount"):
        CALLS[call](model, amount=amount)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("layers, exc, match", [
    (["1"], ValueError, "ReLU, not a Linear"),
    (["7"], ValueError, "'7' is not a layer"),
    (["0", "0"], ValueError, "more than once"),
    ([], ValueError, "at least one"),
    ([3], TypeError, "layers"),
    (5, TypeError, "layers"),
    ([nn.Linear(2, 2)], ValueError, "not part of the model"),
])
def test_layers(call, layers, exc, match):
    model = mlp()
    snap = snapshot(model)
    with pytest.raises(exc, match=match):
        CALLS[call](model, amount=0.5, layers=layers)
    assert_unchanged(model, snap)


def test_unknown_scope_and_criterion():
    model = mlp()
    snap = snapshot(model)
    with pytest.raises(ValueError, match="scope"):
        magnitude_prune(model, 0.5, scope="network")
    with pytest.raises(ValueError, match="criterion"):
        unit_prune(model, 0.5, criterion="l3")
    assert_unchanged(model, snap)


@pytest.mark.parametrize("call", list(CALLS) + ["report", "to_sparse"])
def test_no_prunable_layer(call):
    model = nn.Sequential(nn.ReLU(), nn.Dropout(0.1))
    snap = snapshot(model)
    if call == "report":
        r = sparsity_report(model)  # a report of nothing is fine
        assert r["layers"] == [] and r["total"]["params"] == 0
        return
    if call == "to_sparse":
        assert isinstance(to_sparse(model), nn.Sequential)
        return
    with pytest.raises(ValueError, match="no prunable layer"):
        CALLS[call](model, amount=0.5)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("fn", [lambda m: magnitude_prune(m, 0.5), lambda m: unit_prune(m, 0.5),
                                sparsity_report, remove_masks, to_sparse])
def test_not_a_model(fn):
    with pytest.raises(TypeError, match="model"):
        fn(np.zeros((3, 3)))


@pytest.mark.parametrize("bad_mask, match", [
    (np.ones((16, 20)), "float32"),
    (np.ones((20, 16), np.float32), "shape"),
    (np.full((16, 20), 0.5, np.float32), "0 and 1"),
])
def test_corrupt_existing_mask(bad_mask, match):
    model = mlp()
    model[0].weight.mask = bad_mask
    snap_w = model[0].weight.data.copy()
    for fn in (lambda: magnitude_prune(model, 0.5), lambda: unit_prune(model, 0.5),
               lambda: remove_masks(model)):
        with pytest.raises(ValueError, match=match):
            fn()
        np.testing.assert_array_equal(model[0].weight.data, snap_w)
        assert model[0].weight.mask is bad_mask
        assert model[2].weight.mask is None


@pytest.mark.parametrize("value, exc", [(1.5, ValueError), (-0.1, ValueError), ("x", TypeError)])
def test_to_sparse_min_sparsity(value, exc):
    model = mlp()
    with pytest.raises(exc, match="min_sparsity"):
        to_sparse(model, value)


def test_unit_prune_bad_input_shape_leaves_model_unchanged():
    model = mlp()
    snap = snapshot(model)
    with pytest.raises(ValueError, match="input_shape"):
        unit_prune(model, 0.5, input_shape=(7,))
    with pytest.raises(TypeError, match="input_shape"):
        unit_prune(model, 0.5, input_shape="abc")
    assert_unchanged(model, snap)
    assert model.training
