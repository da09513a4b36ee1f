"""fit / evaluate / predict, callbacks, divergence, resume: behaviour on small real problems."""
import math
import os

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.train import (Callback, EarlyStopping, LambdaCallback, ModelCheckpoint,
                          TrainingDiverged)


def _digits():
    (xtr, ytr), (xte, yte) = fastnn.datasets.load_digits()
    xtr = np.asarray(xtr, np.float32).reshape(len(xtr), -1)
    xte = np.asarray(xte, np.float32).reshape(len(xte), -1)
    if xtr.max() > 1.5:
        xtr, xte = xtr / 16.0, xte / 16.0
    return xtr, np.asarray(ytr, np.int64), xte, np.asarray(yte, np.int64)


def _blobs(n=240, d=6, k=3, seed=0):
    r = np.random.default_rng(seed)
    centers = r.standard_normal((k, d)) * 3
    y = r.integers(0, k, n)
    x = (centers[y] + r.standard_normal((n, d))).astype(np.float32)
    return x, y.astype(np.int64)


def _mlp(d_in, d_out=3, hidden=16):
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def test_fit_digits_reaches_accuracy():
    xtr, ytr, xte, yte = _digits()
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=32, epochs=12,
                   validation_data=(xte, yte), verbose=0, seed=1)
    assert set(h.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert len(h.history["loss"]) == 12
    assert h.history["loss"][-1] < h.history["loss"][0]
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(), xte, yte)
    assert res["accuracy"] >= 0.95, res
    assert math.isclose(res["accuracy"], h.history["val_accuracy"][-1], rel_tol=1e-6)


def test_predict_shape_and_mode_restored():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    out1 = fastnn.predict(model, x, batch_size=7)
    out2 = fastnn.predict(model, x, batch_size=100)
    assert out1.shape == (len(x), 3)
    np.testing.assert_allclose(out1, out2, rtol=1e-5, atol=1e-6)  # eval mode: no dropout
    assert model.training


def test_same_seed_same_bits():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        fastnn.manual_seed(3)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=16, epochs=3,
                       verbose=0, seed=7)
        runs.append((h.history["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


def test_validation_split_uses_tail():
    x, y = _blobs(n=100)
    model = _mlp(6)
    opt = optim.SGD(model.parameters(), lr=0.01)
    h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=1, validation_split=0.2,
                   verbose=0)
    assert "val_loss" in h.history
    ev = fastnn.evaluate(model, nn.CrossEntropyLoss(), x[80:], y[80:])
    assert math.isclose(ev["loss"], h.history["val_loss"][0], rel_tol=1e-6)


def test_callback_hooks_order():
    x, y = _blobs(n=40)
    events = []

    class Rec(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin{epoch}")

        def on_batch_end(self, batch, logs=None):
            events.append(f"batch{batch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end{epoch}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    model = _mlp(6)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), x, y,
               batch_size=20, epochs=2, callbacks=[Rec()], verbose=0)
    assert events == ["train_begin", "epoch_begin0", "batch0", "batch1", "epoch_end0",
                      "epoch_begin1", "batch0", "batch1", "epoch_end1", "train_end"]


def test_early_stopping_restores_best():
    x, y = _blobs(n=60)
    model = _mlp(6)
    vals = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1])
    snapshots = []

    def fake_val(epoch, logs):
        logs["val_loss"] = next(vals)
        snapshots.append(model.state_dict())

    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   epochs=8, callbacks=[LambdaCallback(on_epoch_end=fake_val), es], verbose=0)
    assert len(h.epoch) == 4            # best at epoch 1, then 2 more without improvement, stop
    assert es.best_epoch == 1 and es.stopped_epoch == 3
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snapshots[1][k])


def test_early_stopping_unknown_monitor():
    x, y = _blobs(n=30)
    model = _mlp(6)
    with pytest.raises(ValueError, match="val_loss"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   epochs=1, callbacks=[EarlyStopping()], verbose=0)


def test_divergence_stops_with_clear_message():
    x, y = _blobs(n=64)
    x[10] = np.nan
    model = _mlp(6)
    before = model.state_dict()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1/4.*learning rate.*clip"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   batch_size=16, epochs=1, shuffle=False, verbose=0)
    for k, v in model.state_dict().items():       # the bad step was not applied
        np.testing.assert_array_equal(v, before[k])


def test_divergence_leaves_batchnorm_statistics_of_the_withheld_batch_out():
    # A NaN in the third batch: BatchNorm's running statistics keep the first two batches only,
    # so the model still predicts (finite) after the TrainingDiverged.
    x, y = _blobs(n=64)
    x[40] = np.nan
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    bn = model[1]
    with pytest.raises(TrainingDiverged, match=r"batch 3/4"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert bn.num_batches_tracked == 2
    assert np.isfinite(bn.running_mean).all() and np.isfinite(bn.running_var).all()
    assert np.isfinite(fastnn.predict(model, x[:40])).all()
    # ...and they are exactly those of the two good batches.
    fastnn.manual_seed(0)
    twin = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    fastnn.fit(twin, nn.CrossEntropyLoss(), optim.SGD(twin.parameters(), lr=0.1), x[:32], y[:32],
               batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(bn.running_mean, twin[1].running_mean)
    np.testing.assert_array_equal(bn.running_var, twin[1].running_var)


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), "batch_size"), (dict(epochs=-1), "epochs"),
    (dict(validation_split=1.0), "validation_split"), (dict(metrics=("f1",)), "metrics"),
    (dict(clip_grad_norm=-1), "clip_grad_norm"), (dict(verbose=5), "verbose"),
])
def test_bad_arguments_before_training(kwargs, match):
    x, y = _blobs(n=30)
    model = _mlp(6)
    before = model.state_dict()
    kw = dict(verbose=0)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
                   **kw)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_mismatched_lengths_and_label_range():
    x, y = _blobs(n=30)
    model = _mlp(6)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="30 samples vs 29 labels"):
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y[:-1], verbose=0)
    bad = y.copy()
    bad[3] = 7
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\)"):
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, bad, verbose=0)


def test_checkpoint_resume_is_exact(tmp_path):
    x, y = _blobs(n=96)

    def make():
        fastnn.manual_seed(11)
        model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.2), nn.Linear(12, 3))
        opt = optim.Adam(model.parameters(), lr=1e-2)
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return model, opt, sched

    model, opt, sched = make()
    full = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=16, epochs=4,
                      scheduler=sched, verbose=0, seed=5)
    want = model.state_dict()

    path = str(tmp_path / "ckpt-{epoch}.safetensors")
    model, opt, sched = make()
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=16, epochs=2,
               scheduler=sched, verbose=0, seed=5, callbacks=[ModelCheckpoint(path)])
    assert os.path.exists(tmp_path / "ckpt-2.safetensors")
    model, opt, sched = make()  # fresh objects, as after a crash
    h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=16, epochs=4,
                   scheduler=sched, verbose=0, seed=5,
                   resume_from=str(tmp_path / "ckpt-2.safetensors"))
    assert h.history["loss"] == full.history["loss"]
    assert h.history["lr"] == full.history["lr"]
    for k, v in want.items():
        np.testing.assert_array_equal(model.state_dict()[k], v)


def test_checkpoint_save_best_only(tmp_path):
    x, y = _blobs(n=40)
    model = _mlp(6)
    vals = iter([1.0, 2.0, 0.5])
    ck = ModelCheckpoint(str(tmp_path / "best.safetensors"), monitor="val_loss",
                         save_best_only=True)
    saved = []

    def fake(epoch, logs):
        logs["val_loss"] = next(vals)

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(ck.last_saved is not None and os.path.getmtime(ck.last_saved))

    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=3, callbacks=[LambdaCallback(on_epoch_end=fake), ck, Spy()], verbose=0)
    assert ck.best == 0.5
    assert saved[0] and saved[1] == saved[0] and saved[2] >= saved[1]


def test_scheduler_and_lr_history():
    x, y = _blobs(n=32)
    model = _mlp(6)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=3, scheduler=sched, verbose=0)
    np.testing.assert_allclose(h.history["lr"], [0.1, 0.01, 0.001], rtol=1e-6)


def test_clip_grad_norm_in_fit_changes_nothing_when_large():
    x, y = _blobs(n=32)
    res = []
    for clip in (None, 1e9):
        fastnn.manual_seed(0)
        model = _mlp(6)
        opt = optim.SGD(model.parameters(), lr=0.1)
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=2, verbose=0, seed=2,
                   clip_grad_norm=clip)
        res.append(model.state_dict())
    for k in res[0]:
        np.testing.assert_allclose(res[0][k], res[1][k], rtol=1e-6, atol=1e-7)


def test_plateau_scheduler_gets_val_loss_and_batch_interval():
    x, y = _blobs(n=32)
    model = _mlp(6)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    seen = []
    orig = sched.step
    sched.step = lambda metric: (seen.append(metric), orig(metric))
    # no validation data: the plateau scheduler is stepped with the training loss
    h = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=2, scheduler=sched, verbose=0)
    assert seen == h.history["loss"]
    model2 = nn.Sequential(nn.Linear(6, 3))
    opt2 = optim.SGD(model2.parameters(), lr=1.0)
    warm = optim.lr_scheduler.LinearWarmup(opt2, warmup_steps=4, start_factor=0.25)
    h2 = fastnn.fit(model2, nn.CrossEntropyLoss(), opt2, x, y, batch_size=16, epochs=2,
                    scheduler=warm, scheduler_interval="batch", verbose=0)
    # 2 batches per epoch: epoch 0 starts at 0.25, epoch 1 starts after 2 steps at 0.625
    np.testing.assert_allclose(h2.history["lr"], [0.25, 0.625], rtol=1e-6)
    with pytest.raises(ValueError, match="scheduler_interval"):
        fastnn.fit(model2, nn.CrossEntropyLoss(), opt2, x, y, scheduler=warm,
                   scheduler_interval="step", verbose=0)


def test_fit_with_augmentation_and_uint8_images():
    from fastnn.data import augment as A
    r = np.random.default_rng(0)
    x = r.integers(0, 256, (48, 1, 8, 8), dtype=np.uint8)
    y = r.integers(0, 3, 48).astype(np.int64)
    seen = []

    class Spy:
        def __init__(self):
            self.inner = A.Compose([A.RandomShift(1), A.RandomHorizontalFlip(0.5)])

        def __call__(self, batch, rng):
            seen.append((batch.dtype, batch.shape))
            return self.inner(batch, rng)

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    h = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-4), x, y,
                   batch_size=16, epochs=2, augment=Spy(), verbose=0, seed=0)
    assert len(h.history["loss"]) == 2 and all(np.isfinite(h.history["loss"]))
    assert seen and all(dt == np.uint8 and sh[1:] == (1, 8, 8) for dt, sh in seen)
    assert len(seen) == 6  # 3 batches x 2 epochs, raw batches before conversion


def test_progress_bar_shows_rate_and_metrics(capsys, monkeypatch):
    monkeypatch.setenv("FASTNN_PROGRESS", "bar")  # capsys is no terminal: force the bar
    x, y = _blobs(n=64)
    model = _mlp(6)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               batch_size=16, epochs=1, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "samples/s" in err and "loss=" in err and "accuracy=" in err
    assert "batch=4/4" in err or "64/64" in err
