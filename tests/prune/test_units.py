"""unit_prune: removing dead units changes no output (through activations, BatchNorm, Flatten);
the smallest-norm units go; shapes, BatchNorm statistics, masks shrink consistently; the final
layer and Residual widths are kept; unfollowable consumers raise with the model unchanged; a
stale optimizer refuses to step; the pruned model trains."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.prune import magnitude_prune, unit_prune
from tests.prune.helpers import assert_unchanged, mlp, snapshot


def make_dead(producer, consumer, units, block=1):
    """Make ``units`` of producer the smallest-norm ones and cut their outgoing weights."""
    producer.weight.data[units] *= 1e-3
    for u in units:
        consumer.weight.data[:, u * block:(u + 1) * block] = 0.0


def tol(y):
    return 1e-5 * (1.0 + np.abs(y).max())


@pytest.mark.parametrize("criterion", ["l1", "l2"])
def test_dead_units_removed_outputs_unchanged(rng, criterion):
    model = mlp((20, 16, 12, 5))
    dead0, dead2 = [1, 5, 6, 11], [0, 3, 9]
    make_dead(model[0], model[2], dead0)
    make_dead(model[2], model[4], dead2)
    x = rng.standard_normal((9, 20)).astype(np.float32)
    y0 = model(x)
    report = unit_prune(model, 0.25, criterion=criterion)
    assert report["0"]["removed"] == dead0 and report["2"]["removed"] == dead2
    assert report["skipped"] == {"4": "it is the model's final layer (its outputs are kept)"}
    assert model[0].weight.shape == (12, 20) and model[0].bias.shape == (12,)
    assert model[2].weight.shape == (9, 12) and model[4].weight.shape == (5, 9)
    assert (model[0].out_features, model[2].in_features, model[4].in_features) == (12, 12, 9)
    np.testing.assert_allclose(model(x), y0, rtol=0, atol=tol(y0))


def test_kept_rows_are_the_original_rows(rng):
    model = mlp((10, 8, 3))
    w0, b0, w2 = model[0].weight.data.copy(), model[0].bias.data.copy(), model[2].weight.data.copy()
    report = unit_prune(model, 0.5, criterion="l2")
    norms = np.sqrt((w0.astype(np.float64) ** 2).sum(1))
    keep = np.sort(np.argsort(norms, kind="stable")[4:])
    assert report["0"]["removed"] == sorted(set(range(8)) - set(keep.tolist()))
    np.testing.assert_array_equal(model[0].weight.data, w0[keep])
    np.testing.assert_array_equal(model[0].bias.data, b0[keep])
    np.testing.assert_array_equal(model[2].weight.data, w2[:, keep])


def test_criterion_l1_vs_l2_differ():
    model = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))
    model[0].weight.data[:] = [[1, 1, 1, 1], [3, 0, 0, 0]]  # L1: 4 vs 3; L2: 2 vs 3
    r1 = unit_prune(mlp_copy(model), 0.5, criterion="l1")
    r2 = unit_prune(mlp_copy(model), 0.5, criterion="l2")
    assert r1["0"]["removed"] == [1] and r2["0"]["removed"] == [0]


def mlp_copy(model):
    import copy
    return copy.deepcopy(model)


def test_masks_shrink_with_weights(rng):
    model = mlp((20, 16, 12, 5))
    magnitude_prune(model, 0.5)
    unit_prune(model, 0.5)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            assert m.weight.mask.shape == m.weight.shape
            assert m.weight.mask.flags.c_contiguous
            assert np.all(m.weight.data[m.weight.mask == 0] == 0)


def test_through_batchnorm1d(rng):
    model = mlp((20, 16, 12, 5), bn=True)  # Linear BN ReLU Linear BN ReLU Linear
    x = rng.standard_normal((32, 20)).astype(np.float32)
    model.train()
    model(x)  # running statistics become non-trivial
    bn = model[1]
    bn.weight.data[:] = rng.uniform(0.5, 2, 16)
    bn.bias.data[:] = rng.standard_normal(16)
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    dead = [2, 3, 13]
    make_dead(model[0], model[3], dead)
    model.eval()
    y0 = model(x)
    report = unit_prune(model, 3 / 16, layers=["0"])
    assert report["0"]["removed"] == dead
    keep = [i for i in range(16) if i not in dead]
    assert bn.num_features == 13 and bn.weight.shape == (13,)
    np.testing.assert_array_equal(bn.running_mean, rm[keep])
    np.testing.assert_array_equal(bn.running_var, rv[keep])
    np.testing.assert_allclose(model(x), y0, rtol=0, atol=tol(y0))
    model.train()
    model(x)  # the shrunk BN still trains


def cnn(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(12 * 2 * 2, 10), nn.ReLU(), nn.Dropout(0.25), nn.Linear(10, 3))


@pytest.mark.parametrize("traced", [False, True])
def test_conv_through_batchnorm_pool_flatten(rng, traced):
    model = cnn()
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    model.train()
    model(x)
    dead_a, dead_b, dead_c = [0, 5], [1, 4, 10], [2, 7]
    make_dead(model[0], model[4], dead_a)  # conv1 channels -> conv2 input channels
    model[4].weight.data[dead_b] *= 1e-3  # conv2 channels -> Linear input blocks of 2*2
    for c in dead_b:
        model[9].weight.data[:, c * 4:(c + 1) * 4] = 0.0
    make_dead(model[9], model[12], dead_c)
    model.eval()
    y0 = model(x)
    report = unit_prune(model, 0.25, input_shape=(1, 8, 8) if traced else None)
    assert report["0"]["removed"] == dead_a
    assert report["4"]["removed"] == dead_b
    assert report["9"]["removed"] == dead_c
    assert model[0].weight.shape == (6, 1, 3, 3) and model[1].num_features == 6
    assert model[4].weight.shape == (9, 6, 3, 3) and model[5].running_mean.shape == (9,)
    assert model[9].weight.shape[1] == 9 * 4
    np.testing.assert_allclose(model(x), y0, rtol=0, atol=tol(y0))


def test_conv_dead_channels_exact(rng):
    model = cnn(1)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    dead_b = [2, 7, 11]
    model[4].weight.data[dead_b] *= 1e-3
    for c in dead_b:
        model[9].weight.data[:, c * 4:(c + 1) * 4] = 0.0
    model.eval()
    y0 = model(x)
    unit_prune(model, 0.25, layers=["4"])
    assert model[9].in_features == 36
    np.testing.assert_allclose(model(x), y0, rtol=0, atol=tol(y0))


def residual_model():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(),
                         nn.Residual(nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 6))),
                         nn.Linear(6, 3))


def test_residual_widths_kept(rng):
    model = residual_model()
    block = model[2].block
    make_dead(block[0], block[2], [3, 4, 8])
    x = rng.standard_normal((5, 8)).astype(np.float32)
    y0 = model(x)
    report = unit_prune(model, 0.3)
    assert list(k for k in report if k != "skipped") == ["2.block.0"]
    assert report["2.block.0"]["removed"] == [3, 4, 8]
    assert set(report["skipped"]) == {"0", "2.block.2", "3"}
    assert "Residual" in report["skipped"]["0"]
    assert "Residual block" in report["skipped"]["2.block.2"]
    assert block[0].weight.shape == (7, 6) and block[2].weight.shape == (6, 7)
    np.testing.assert_allclose(model(x), y0, rtol=0, atol=tol(y0))


@pytest.mark.parametrize("layer, why", [("0", "Residual"), ("2.block.2", "Residual block"),
                                        ("3", "final layer")])
def test_explicit_kept_layer_raises_unchanged(layer, why):
    model = residual_model()
    snap = snapshot(model)
    with pytest.raises(ValueError, match=why) as e:
        unit_prune(model, 0.5, layers=["2.block.0", layer])
    assert repr(layer) in str(e.value)
    assert_unchanged(model, snap)


def test_unknown_consumer_raises_unchanged():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Softmax(), nn.Linear(5, 4), nn.ReLU(),
                          nn.Linear(4, 2))
    snap = snapshot(model)
    with pytest.raises(ValueError, match=r"'0'.*'1' \(Softmax\)"):
        unit_prune(model, 0.5)
    assert_unchanged(model, snap)
    unit_prune(model, 0.5, layers=["2"])  # the other one is fine
    assert model[2].out_features == 2 and model[4].in_features == 2


def test_nothing_to_prune_raises():
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match="final layer"):
        unit_prune(model, 0.5)


def test_stale_optimizer_raises_and_new_one_trains(rng):
    (xtr, ytr), (xte, yte) = fastnn.datasets.load_digits()
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    model = mlp((64, 48, 32, 10), seed=2)
    loss = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    fastnn.fit(model, loss, opt, xtr, ytr, epochs=3, batch_size=64, verbose=0, seed=0)
    unit_prune(model, 0.5)
    assert [m.weight.shape for m in model.modules() if isinstance(m, nn.Linear)] == \
        [(24, 64), (16, 24), (10, 16)]
    with pytest.raises(ValueError, match="shape changed"):
        opt.step()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    fastnn.fit(model, loss, opt, xtr, ytr, epochs=2, batch_size=64, verbose=0, seed=1)
    acc = fastnn.evaluate(model, loss, xte, yte)["accuracy"]
    assert acc > 0.85


@pytest.mark.parametrize("build, match", [
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2),
                           nn.Flatten(), nn.Linear(4, 2)), "grouped Conv2d"),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(0, -1), nn.Linear(4, 2)),
     r"Flatten with start_dim=0"),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(6, 2)),
     "not a multiple"),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(5), nn.Flatten(), nn.Linear(4, 2)),
     "normalises 5 features"),
])
def test_conv_consumers_that_cannot_shrink(build, match):
    fastnn.manual_seed(0)
    model = build()
    snap = snapshot(model)
    with pytest.raises(ValueError, match=match) as e:
        unit_prune(model, 0.5, layers=["0"])
    assert "'0'" in str(e.value)
    assert_unchanged(model, snap)


def test_trace_with_a_wrong_input_shape_raises_unchanged():
    model = cnn()
    snap = snapshot(model)
    with pytest.raises(ValueError, match="input_shape"):
        unit_prune(model, 0.5, input_shape=(1, 12, 12))  # a 3x3 map: the Linear wants 2x2
    assert_unchanged(model, snap)
