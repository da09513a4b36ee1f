"""lr_find, CSVLogger, TensorBoard and plot_history."""
import csv
import os

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.train import CSVLogger, Diagnostics, TensorBoard, lr_find


def _digits():
    (xtr, ytr), _ = fastnn.datasets.load_digits()
    x = np.asarray(xtr, np.float32).reshape(len(xtr), -1)
    return (x / 16.0 if x.max() > 1.5 else x), np.asarray(ytr, np.int64)


def _mlp():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))


def test_lr_find_restores_everything_and_suggests_a_sane_rate(tmp_path):
    x, y = _digits()
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, x[:256], y[:256], epochs=1, verbose=0)
    sd, osd = model.state_dict(), opt.state_dict()
    grads = [p.grad.copy() for p in model.parameters()]
    nbt = model[1].num_batches_tracked
    rng_state = fastnn._random.generator().bit_generator.state
    res = lr_find(model, nn.CrossEntropyLoss(), opt, x, y, num_iter=100, seed=0)
    for k, v in model.state_dict().items():
        assert v.tobytes() == sd[k].tobytes(), k
    for g, p in zip(grads, model.parameters()):
        assert g.tobytes() == p.grad.tobytes()
    after = opt.state_dict()
    assert after["param_groups"] == osd["param_groups"] and after["step"] == osd["step"]
    for k, v in osd["state"].items():
        assert after["state"][k].tobytes() == v.tobytes()
    assert model[1].num_batches_tracked == nbt
    assert fastnn._random.generator().bit_generator.state == rng_state
    assert opt.lr == 1e-3
    assert 10 <= len(res.lrs) <= 100 and len(res.losses) == len(res.lrs)
    assert np.all(np.diff(res.lrs) > 0) and res.lrs[0] == pytest.approx(1e-7)
    assert 1e-4 <= res.suggestion <= 0.5, res.suggestion
    # stopped when the smoothed loss passed 4x its best, before reaching end_lr
    assert res.losses[-1] > 4 * res.losses.min() or len(res.lrs) == 100
    res.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lr_find_arguments():
    x, y = _digits()
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="end_lr"):
        lr_find(model, nn.CrossEntropyLoss(), opt, x, y, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_iter"):
        lr_find(model, nn.CrossEntropyLoss(), opt, x, y, num_iter=1)
    with pytest.raises(ValueError, match="start_lr"):
        lr_find(model, nn.CrossEntropyLoss(), opt, x, y, start_lr=0)


def test_csv_logger_and_plot_history(tmp_path):
    x, y = _digits()
    model = _mlp()
    path = tmp_path / "log.csv"
    h = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                   x[:400], y[:400], epochs=2, validation_split=0.25, verbose=0,
                   callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert float(rows[2][1]) == h.history["loss"][1]
    # append continues the file under its header
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
               x[:400], y[:400], epochs=1, validation_split=0.25, verbose=0,
               callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[0][0] == "epoch" and len(rows[3]) == 6
    png = tmp_path / "curves.png"
    fig = fastnn.plot_history(h, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread
    img = imread(png)  # decodes: a real image, three panels wide
    assert img.ndim == 3 and img.shape[1] > 2 * img.shape[0]
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "lr"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["training", "validation"]
    with pytest.raises(TypeError, match="history"):
        fastnn.plot_history([1, 2])
    with pytest.raises(TypeError, match="path"):
        CSVLogger(3)


def read_events(path):
    """{"scalar": tags, "histogram": tags, "steps": {tag: [steps]}} of a TensorBoard event file
    (TFRecord framing: u64 length, u32 crc, payload, u32 crc)."""
    import struct
    from tensorboardX.proto.event_pb2 import Event
    out = {"scalar": set(), "histogram": set(), "steps": {}}
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        ev = Event.FromString(data[pos + 12:pos + 12 + n])
        pos += 12 + n + 4
        for v in ev.summary.value:
            kind = "histogram" if v.HasField("histo") else "scalar"
            out[kind].add(v.tag)
            out["steps"].setdefault(v.tag, []).append(ev.step)
    return out


def test_tensorboard_writes_scalars_and_diagnostics(tmp_path):
    x, y = _digits()
    model = _mlp()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
               x[:300], y[:300], epochs=2, verbose=0,
               callbacks=[TensorBoard(tmp_path / "tb"), Diagnostics(warn=False)])
    files = os.listdir(tmp_path / "tb")
    assert len(files) == 1 and files[0].startswith("events.out.tfevents")
    tags = read_events(tmp_path / "tb" / files[0])
    assert {"epoch/loss", "epoch/lr", "dead_fraction/2", "grad_norm/0.weight",
            "update_ratio/3.bias", "act_std/2"} <= tags["scalar"]
    assert {"weights/0.weight", "grads/3.weight", "firing_rate/2"} <= tags["histogram"]
    assert tags["steps"]["epoch/loss"] == [1, 2]


def test_tensorboard_missing_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"fastnn\[tensorboard\]"):
        TensorBoard("logs")


def test_plot_missing_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"fastnn\[plot\]"):
        fastnn.plot_history({"loss": [1.0]})
