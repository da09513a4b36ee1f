"""magnitude_prune / remove_masks / sparsity_report: exact sparsity per layer and global, the
smallest magnitudes go, masks accumulate, forward always sees masked weights."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.prune import magnitude_prune, remove_masks, sparsity_report, SparseLinearWeights
from tests.prune.helpers import mlp


def weights(model):
    return [(n, m.weight) for n, m in model.named_modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("amount", [0.0, 0.25, 0.5, 0.9, 0.999])
def test_layer_scope_exact_sparsity_smallest_removed(amount):
    model = mlp((30, 17, 13, 4))
    before = {n: p.data.copy() for n, p in weights(model)}
    report = magnitude_prune(model, amount)
    for n, p in weights(model):
        w0 = before[n]
        k = round(amount * w0.size)
        assert p.mask.dtype == np.float32 and p.mask.flags.c_contiguous
        assert p.mask.shape == w0.shape
        assert int((p.mask == 0).sum()) == k
        assert int((p.data == 0).sum()) == k
        # kept entries untouched; every pruned magnitude <= every kept magnitude
        np.testing.assert_array_equal(p.data[p.mask == 1], w0[p.mask == 1])
        if 0 < k < w0.size:
            assert np.abs(w0[p.mask == 0]).max() <= np.abs(w0[p.mask == 1]).min()
    entry = {e["name"]: e for e in report["layers"]}
    for n, p in weights(model):
        assert entry[n]["zeros"] == round(amount * p.size)
    # biases are never pruned
    for _, m in model.named_modules():
        if isinstance(m, nn.Linear):
            assert m.bias.mask is None


def test_global_scope_one_threshold():
    model = mlp((30, 17, 13, 4))
    # Give the layers different scales so the global threshold spreads sparsity unevenly.
    for i, (_, p) in enumerate(weights(model)):
        p.data *= (i + 1)
    all_w = np.concatenate([p.data.ravel() for _, p in weights(model)])
    magnitude_prune(model, 0.6, scope="global")
    masks = np.concatenate([p.mask.ravel() for _, p in weights(model)])
    assert int((masks == 0).sum()) == round(0.6 * all_w.size)
    assert np.abs(all_w[masks == 0]).max() <= np.abs(all_w[masks == 1]).min()
    per_layer = [float((p.mask == 0).mean()) for _, p in weights(model)]
    assert per_layer[0] > per_layer[-1]  # the small-scale layer loses more


def test_masks_accumulate_and_never_unprune():
    model = mlp()
    magnitude_prune(model, 0.5)
    first = {n: p.mask.copy() for n, p in weights(model)}
    magnitude_prune(model, 0.3)  # less than already pruned: nothing changes
    for n, p in weights(model):
        np.testing.assert_array_equal(p.mask, first[n])
    magnitude_prune(model, 0.8)
    for n, p in weights(model):
        assert np.all(p.mask[first[n] == 0] == 0)  # still pruned
        assert int((p.mask == 0).sum()) == round(0.8 * p.size)


def test_pruned_weights_removed_first_even_if_they_grew():
    # A weight pruned earlier counts towards the target even though .data was overwritten.
    model = nn.Sequential(nn.Linear(4, 1))
    w = model[0].weight
    w.data[:] = [[1, 2, 3, 4]]
    magnitude_prune(model, 0.25)
    np.testing.assert_array_equal(w.mask, [[0, 1, 1, 1]])
    w.data[0, 0] = 100.0  # a user writes into a pruned weight
    magnitude_prune(model, 0.5)
    np.testing.assert_array_equal(w.mask, [[0, 0, 1, 1]])
    assert w.data[0, 0] == 0.0


def test_layers_selection_by_name_and_object():
    model = mlp()
    magnitude_prune(model, 0.5, layers=["2"])
    assert model[0].weight.mask is None and model[4].weight.mask is None
    assert int((model[2].weight.mask == 0).sum()) == round(0.5 * model[2].weight.size)
    magnitude_prune(model, 0.5, layers=[model[0]])
    assert model[0].weight.mask is not None and model[4].weight.mask is None


def test_forward_uses_masked_weights_after_user_write(rng):
    model = mlp()
    magnitude_prune(model, 0.7)
    x = rng.standard_normal((5, 20)).astype(np.float32)
    y0 = model(x)
    lin = model[0]
    pruned = lin.weight.mask == 0
    lin.weight.data[pruned] = 123.0  # written by hand into pruned positions
    y1 = model(x)
    np.testing.assert_array_equal(y0, y1)
    assert np.all(lin.weight.data[pruned] == 0.0)


def test_backward_masks_gradient(rng):
    model = mlp()
    magnitude_prune(model, 0.7)
    x = rng.standard_normal((5, 20)).astype(np.float32)
    model.zero_grad()
    y = model(x)
    model.backward(np.ones_like(y))
    for _, p in weights(model):
        assert np.all(p.grad[p.mask == 0] == 0.0)
        assert np.any(p.grad[p.mask == 1] != 0.0)


def test_remove_masks_keeps_zeros_and_stops_masking(rng):
    model = mlp()
    magnitude_prune(model, 0.6)
    zero = {n: p.data == 0 for n, p in weights(model)}
    assert remove_masks(model) == 3
    for n, p in weights(model):
        assert p.mask is None
        assert np.all(p.data[zero[n]] == 0)
    opt = fastnn.optim.SGD(model.parameters(), lr=0.1)
    for _, p in weights(model):
        p.grad[:] = 1.0
    opt.step()
    assert all(np.all(p.data != 0) for _, p in weights(model))  # no longer held at zero
    assert remove_masks(model) == 0


def test_sparsity_report_counts_and_bytes():
    model = mlp((30, 17, 4))
    magnitude_prune(model, 0.75)
    r = sparsity_report(model)
    assert [e["name"] for e in r["layers"]] == ["0", "2"]
    e0 = r["layers"][0]
    assert e0["shape"] == (17, 30) and e0["params"] == 510
    assert e0["zeros"] == round(0.75 * 510) and e0["sparsity"] == e0["zeros"] / 510
    assert e0["dense_bytes"] == 4 * 510
    csr = SparseLinearWeights(model[0].weight.data)
    assert e0["sparse_bytes"] == csr.nbytes
    t = r["total"]
    n_params = sum(p.size for p in model.parameters())
    assert t["params"] == n_params and t["dense_bytes"] == 4 * n_params
    assert t["weight_params"] == 510 + 68
    assert t["weight_zeros"] == e0["zeros"] + r["layers"][1]["zeros"]
    biases = 17 + 4
    assert t["sparse_bytes"] == sum(e["sparse_bytes"] for e in r["layers"]) + 4 * biases
    text = str(r)
    assert "Linear" in text and "75.0%" in text and "all params" in text
    assert isinstance(r, dict)


def test_conv_weights_pruned_exactly(rng):
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 5 * 5, 4))
    w0 = model[0].weight.data.copy()
    magnitude_prune(model, 0.8)
    m = model[0].weight.mask
    assert m.shape == w0.shape and int((m == 0).sum()) == round(0.8 * w0.size)
    assert np.abs(w0[m == 0]).max() <= np.abs(w0[m == 1]).min()
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    y0 = model(x)
    model[0].weight.data[m == 0] = 7.0
    np.testing.assert_array_equal(model(x), y0)  # conv forward re-applies the mask too
