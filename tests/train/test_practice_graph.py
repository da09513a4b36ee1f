"""Issue 17's training practice on branched graph models (nn.Model), not only Sequential:
regularizers and max-norm, early stopping, augmentation, schedulers, clipping, weighted losses,
transfer learning / freezing, Diagnostics, where a NaN starts, lr_find, the scikit-learn
estimators and greedy pre-training."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.train import (Diagnostics, EarlyStopping, TrainingDiverged, find_nonfinite, lr_find,
                          pretrain_greedy)


def _data(n=192, d=6, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    return x, ((x[:, 0] + x[:, 1]) > 0).astype(np.int64)


def _named(layer, name):
    layer.name = name  # the graph registers the layer under this name
    return layer


def _mlp(d=6, seed=0):
    """Two branches (Linear->ReLU and Linear->Tanh) concatenated, a skip Add, a head."""
    fastnn.manual_seed(seed)
    x = nn.Input((d,))
    a = nn.ReLU()(_named(nn.Linear(d, 8), "a")(x))
    b = nn.Tanh()(_named(nn.Linear(d, 8), "b")(x))
    h = nn.Concat(dim=1)(a, b)
    h = nn.ReLU()(_named(nn.Linear(16, 16), "mid")(h)) + h
    return nn.Model(x, _named(nn.Linear(16, 2), "head")(h))


def _cnn(seed=0):
    fastnn.manual_seed(seed)
    x = nn.Input((1, 8, 8))
    a = nn.ReLU()(_named(nn.Conv2d(1, 4, 3, padding=1), "c1")(x))
    b = nn.ReLU()(_named(nn.Conv2d(1, 4, 1), "c2")(x))
    h = nn.Flatten()(nn.MaxPool2d(2)(nn.Concat(dim=1)(a, b)))
    return nn.Model(x, _named(nn.Linear(8 * 16, 2), "head")(h))


def _params(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_regularizers_max_norm_clipping_and_scheduler():
    x, y = _data()
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.5, weight_decay=1e-3, l1=1e-4, max_norm=0.5)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=3, batch_size=32,
                      scheduler=sched, clip_grad_norm=1.0, verbose=0, seed=0)
    assert hist.history["lr"] == pytest.approx([0.5, 0.25, 0.125])
    for name, p in model.named_parameters():  # max-norm: each output unit's weight row
        if name.endswith("weight"):
            norms = np.sqrt((p.data.reshape(p.data.shape[0], -1) ** 2).sum(1))
            assert norms.max() <= 0.5 + 1e-5, name
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_early_stopping_restores_best_weights():
    x, y = _data()
    model = _mlp()
    es = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=5.0), x, y,
                      epochs=30, validation_split=0.25, callbacks=[es], verbose=0, seed=0)
    assert len(hist.history["loss"]) < 30
    best = int(np.argmin(hist.history["val_loss"]))
    loss = fastnn.evaluate(model, nn.CrossEntropyLoss(), x[144:], y[144:], verbose=0)["loss"]
    assert loss == pytest.approx(hist.history["val_loss"][best], rel=1e-4)


def test_augmentation_reaches_the_graph_model():
    from fastnn.data import augment
    r = np.random.default_rng(1)
    x = r.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :, :4].mean((1, 2)) > 0).astype(np.int64)
    seen = []

    def aug(batch, rng):
        out = augment.random_rotate(batch, 10.0, rng=rng)
        seen.append(not np.array_equal(out, batch))
        return out

    model = _cnn()
    before = _params(model)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), x, y,
               epochs=1, batch_size=16, augment=aug, verbose=0, seed=0)
    assert len(seen) == 4 and all(seen)
    assert any(not np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_weighted_loss_changes_the_gradient_like_torch(torch):
    x, y = _data(32)
    w = np.array([0.2, 3.0], np.float32)
    model = _mlp()
    model.zero_grad()
    crit = nn.CrossEntropyLoss(weight=w)
    out = model(x)
    loss = float(crit(out, y))
    model.backward(crit.backward())
    ref = torch.nn.functional.cross_entropy(torch.tensor(out), torch.tensor(y),
                                            weight=torch.tensor(w))
    assert loss == pytest.approx(float(ref), rel=1e-5)
    g_weighted = model.head.weight.grad.copy()
    model.zero_grad()
    plain = nn.CrossEntropyLoss()
    plain(model(x), y)
    model.backward(plain.backward())
    assert not np.allclose(g_weighted, model.head.weight.grad)


def test_transfer_learning_freeze_a_branch_and_fine_tune():
    x, y = _data()
    src = _mlp(seed=1)
    fastnn.fit(src, nn.CrossEntropyLoss(), optim.Adam(src.parameters(), lr=1e-2), x, y,
               epochs=2, verbose=0, seed=0)
    dst = _mlp(seed=2)  # the same architecture built again: the same keys
    assert list(dst.state_dict()) == list(src.state_dict())
    dst.load_state_dict(src.state_dict())
    dst.a.requires_grad_(False)
    dst.b.requires_grad_(False)
    frozen = {k: v.copy() for k, v in dst.state_dict().items() if k[:2] in ("a.", "b.")}
    head = dst.head.weight.data.copy()
    opt = optim.Adam([p for p in dst.parameters() if p.requires_grad], lr=1e-2)
    fastnn.fit(dst, nn.CrossEntropyLoss(), opt, x, y, epochs=2, verbose=0, seed=0)
    for k, v in frozen.items():
        np.testing.assert_array_equal(dst.state_dict()[k], v)
    assert not np.array_equal(dst.head.weight.data, head)


def test_diagnostics_name_the_graph_layers():
    x, y = _data()
    model = _mlp()
    model.a.bias.data[:] = -100.0  # branch a's ReLU never fires
    diag = Diagnostics()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), x, y,
                   epochs=1, callbacks=[diag], verbose=0)
    dead = diag.dead_fraction()
    relus = [k for k in dead if "ReLU" in k or "relu" in k]
    assert len(relus) == 2, dead
    assert max(dead[k] for k in relus) == 1.0  # branch a, all dead
    norms = diag.grad_norms()
    assert set(norms) == {n for n, _ in model.named_parameters()}
    assert norms["a.weight"] == [0.0]  # nothing flows back through a dead branch
    assert norms["head.weight"][0] > 0


def test_nan_origin_names_the_graph_layer():
    x, y = _data(16)
    model = _mlp()
    model.mid.weight.data[0, 0] = np.inf
    origin = find_nonfinite(model, nn.CrossEntropyLoss(), x, y)
    assert origin is not None and origin.layer == "mid" and origin.phase == "forward"
    with pytest.raises(TrainingDiverged, match="mid"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   epochs=1, verbose=0)


def test_lr_find_on_a_graph_model_restores_weights():
    x, y = _data(256)
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    res = lr_find(model, nn.CrossEntropyLoss(), opt, x, y, num_iter=60, seed=0)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert 1e-5 < res.suggestion < 10 and len(res.lrs) == len(res.losses) > 10


def _two_branch_net(n_in, n_out):  # module level: the estimator pickles its model= callable
    x = nn.Input((n_in,))
    h = nn.Concat(dim=1)(nn.ReLU()(nn.Linear(n_in, 8)(x)), nn.Tanh()(nn.Linear(n_in, 8)(x)))
    return nn.Model(x, nn.Linear(16, n_out)(h))


def test_sklearn_estimator_with_a_graph_model():
    import pickle
    from sklearn.base import clone
    from fastnn.sklearn import FastNNClassifier

    x, y = _data(256)
    est = clone(FastNNClassifier(model=_two_branch_net, epochs=30, lr=1e-2, random_state=0)).fit(x, y)
    assert est.score(x, y) > 0.9
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(x), est.predict_proba(x))
    from sklearn.model_selection import GridSearchCV
    grid = GridSearchCV(FastNNClassifier(model=_two_branch_net, epochs=5, random_state=0),
                        {"lr": [1e-3, 1e-2]}, cv=2, n_jobs=2).fit(x, y)
    assert grid.best_params_["lr"] in (1e-3, 1e-2)
    assert isinstance(grid.best_estimator_.model_, nn.Model)


@pytest.mark.parametrize("method", ["autoencoder", "supervised"])
def test_pretrain_greedy_on_a_chain_graph(method):
    x, y = _data(128)
    fastnn.manual_seed(0)
    i = nn.Input((6,))
    h = nn.ReLU()(_named(nn.Linear(6, 12), "h1")(i))
    h = nn.ReLU()(_named(nn.Linear(12, 8), "h2")(h))
    model = nn.Model(i, _named(nn.Linear(8, 2), "out")(h))
    before = _params(model)
    rep = pretrain_greedy(model, x, method=method, y=y, epochs=3, seed=0)
    assert [e["layer"] for e in rep.layers] == ["h1", "h2"]
    for e in rep.layers:
        assert e["final_loss"] < e["initial_loss"]
    after = model.state_dict()
    assert not np.array_equal(after["h1.weight"], before["h1.weight"])
    np.testing.assert_array_equal(after["out.weight"], before["out.weight"])


def test_pretrain_greedy_on_a_branched_graph():
    x, y = _data(128)
    model = _mlp()
    before = _params(model)
    rep = pretrain_greedy(model, x, method="autoencoder", epochs=2, seed=0)
    names = [e["layer"] for e in rep.layers]
    assert set(names) == {"a", "b", "mid"}
    for e in rep.layers:
        assert e["final_loss"] < e["initial_loss"], e
    np.testing.assert_array_equal(model.state_dict()["head.weight"], before["head.weight"])


def test_pretrain_greedy_refuses_a_shared_layer_by_name():
    x, _ = _data(32)
    i = nn.Input((6,))
    shared = _named(nn.Linear(6, 6), "shared")
    h = nn.ReLU()(shared(nn.ReLU()(shared(i))))  # one layer object, two nodes
    model = nn.Model(i, nn.Linear(6, 2)(h))
    before = _params(model)
    with pytest.raises(ValueError, match=r"shared \(Linear\) is shared by 2 nodes"):
        pretrain_greedy(model, x, epochs=1)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_pretrain_greedy_refuses_several_inputs():
    a, b = nn.Input((6,)), nn.Input((6,))
    h = nn.Concat(1)(nn.ReLU()(nn.Linear(6, 4)(a)), nn.ReLU()(nn.Linear(6, 4)(b)))
    model = nn.Model([a, b], nn.Linear(8, 2)(h))
    with pytest.raises(ValueError, match="one input"):
        pretrain_greedy(model, _data(16)[0], epochs=1)


def test_logs_tensorboard_and_plot_on_a_graph_model(tmp_path):
    """CSVLogger, TensorBoard (with the diagnostics, tagged by the graph's layer names) and
    plot_history on a branched model."""
    import csv
    import os

    from fastnn.train import CSVLogger, TensorBoard
    from tests.train.test_practice import read_events
    x, y = _data()
    model = _mlp()
    h = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), x, y,
                   epochs=2, validation_split=0.25, verbose=0,
                   callbacks=[CSVLogger(tmp_path / "log.csv"), TensorBoard(tmp_path / "tb"),
                              Diagnostics(warn=False)])
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert float(rows[2][1]) == h.history["loss"][1]
    (events,) = os.listdir(tmp_path / "tb")
    tags = read_events(tmp_path / "tb" / events)
    assert {"epoch/loss", "epoch/val_loss", "grad_norm/a.weight", "grad_norm/head.bias"} \
        <= tags["scalar"]
    assert any(t.startswith("dead_fraction/") for t in tags["scalar"])
    assert {"weights/mid.weight", "grads/b.weight"} <= tags["histogram"]
    png = tmp_path / "curves.png"
    fastnn.plot_history(h, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
