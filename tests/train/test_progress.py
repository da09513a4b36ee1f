"""fit's progress output: bars on a terminal only; one line per epoch in a log (a pipe here)."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn.train import progress

ROOT = Path(__file__).resolve().parents[2]

FIT_SCRIPT = """
import numpy as np
import fastnn
from fastnn import nn, optim
rng = np.random.default_rng(0)
x = rng.normal(size=(96, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
fastnn.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
           batch_size=8, epochs=3, verbose=1, seed=0)
"""


def _fit_to_pipes(**env):
    e = dict(os.environ)
    for k in ("FASTNN_ISA", progress.ENV):
        e.pop(k, None)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [e.get("PYTHONPATH")] if p])
    e.update(env)
    # bytes, not text=True: universal newlines would turn the bar's '\r' into '\n'
    r = subprocess.run([sys.executable, "-c", FIT_SCRIPT], capture_output=True, env=e, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode(), r.stderr.decode()


def test_verbose1_without_a_tty_prints_one_line_per_epoch():
    out, err = _fit_to_pipes()
    assert "\r" not in out and "\r" not in err
    epoch_lines = [ln for ln in (out + err).split("\n") if ln.startswith("Epoch ")]
    assert [ln.split(" - ")[0] for ln in epoch_lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for ln in epoch_lines:
        assert "loss: " in ln and "samples/s" in ln


def test_env_forces_bars_without_a_tty():
    _, err = _fit_to_pipes(FASTNN_PROGRESS="bar")
    assert "Epoch 1/3" in err and "\r" in err


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return self._tty


def test_use_bar_follows_the_stream(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    assert progress.use_bar(_Stream(True)) is True
    assert progress.use_bar(_Stream(False)) is False
    assert progress.use_bar(object()) is False  # no isatty at all
    closed = _Stream(True)
    closed.close()
    assert progress.use_bar(closed) is False    # isatty on a closed stream raises


@pytest.mark.parametrize("value, expected_tty, expected_pipe", [
    ("bar", True, True), ("lines", False, False), ("", True, False), ("nonsense", True, False)])
def test_use_bar_env_override(monkeypatch, value, expected_tty, expected_pipe):
    monkeypatch.setenv(progress.ENV, value)
    assert progress.use_bar(_Stream(True)) is expected_tty
    assert progress.use_bar(_Stream(False)) is expected_pipe


def test_epoch_bar_only_for_verbose1(monkeypatch):
    monkeypatch.setenv(progress.ENV, "bar")
    assert progress.epoch_bar(0, 0, 1, 10) is None
    assert progress.epoch_bar(2, 0, 1, 10) is None
    bar = progress.epoch_bar(1, 0, 1, 10)
    assert bar is not None
    bar.close()
    monkeypatch.setenv(progress.ENV, "lines")
    assert progress.epoch_bar(1, 0, 1, 10) is None
