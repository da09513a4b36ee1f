"""The README's first example ("A taste") runs as written -- on a small MNIST (a slice of the
machine's copy, or digits drawn at 28x28 when there is none) found through $FASTNN_DATA -- and
leaves a loaded model in eval mode whose outputs are the deterministic inference outputs."""
import contextlib
import io
import re
from pathlib import Path

import numpy as np

import fastnn
from tests.data.test_datasets import shared_mnist

README = Path(__file__).resolve().parents[1] / "README.md"


def _taste_code():
    text = README.read_text()
    section = text[text.index("## A taste"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _small_mnist(path, n_train=160, n_test=40):
    src = shared_mnist()
    if src is not None:
        with np.load(src) as d:
            arrays = {"x_train": d["x_train"][:n_train], "y_train": d["y_train"][:n_train],
                      "x_test": d["x_test"][:n_test], "y_test": d["y_test"][:n_test]}
    else:  # 8x8 digits (0..16) blown up to 24x24 and padded to 28x28, as uint8 0..240
        (x, y), _ = fastnn.datasets.load_digits()
        x = np.asarray(x, np.float64).reshape(-1, 8, 8)[:n_train + n_test]
        x = np.pad(np.kron(x, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * 15
        x, y = x.astype(np.uint8), np.asarray(y, np.uint8)[:n_train + n_test]
        arrays = {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:],
                  "y_test": y[n_train:]}
    np.savez(path, **arrays)


def test_readme_taste_runs_as_written(tmp_path, monkeypatch):
    code = _taste_code()
    assert "model.eval()" in code
    assert code.index("model.eval()") < code.index("model(xt[:10])")
    _small_mnist(tmp_path / "mnist.npz")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ns = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), ns)
    model, xt = ns["model"], ns["xt"]
    assert (tmp_path / "mnist_cnn.safetensors").is_file()
    assert (tmp_path / "ckpt.safetensors").is_file()
    assert "accuracy" in out.getvalue()
    assert not model.training and not any(m.training for m in model.modules())
    first = np.array(model(xt[:10]))
    np.testing.assert_array_equal(first, model(xt[:10]))  # eval mode: no dropout noise
    np.testing.assert_allclose(first, fastnn.predict(model, xt[:10]), rtol=1e-6, atol=1e-6)
