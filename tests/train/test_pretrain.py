"""Greedy layer-wise pre-training."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.train import pretrain_greedy


def _digits(n=400):
    (x, y), _ = fastnn.datasets.load_digits()
    x = np.asarray(x, np.float32)[:n]
    return (x / 16.0 if x.max() > 1.5 else x), np.asarray(y, np.int64)[:n]


def _mlp():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(32, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 10))


@pytest.mark.parametrize("method", ["autoencoder", "supervised"])
def test_pretrain_changes_hidden_layers_only_and_lowers_losses(method):
    x, y = _digits()
    model = _mlp()
    before = model.state_dict()
    model.eval()
    rep = pretrain_greedy(model, x, method=method, epochs=4, y=y, seed=0, lr=3e-3)
    assert [e["label"] for e in rep.layers] == ["1 (Linear)", "4 (Linear)"]
    after = model.state_dict()
    for k in ("1.weight", "1.bias", "4.weight", "4.bias"):
        assert not np.array_equal(after[k], before[k]), k
    for k in ("7.weight", "7.bias"):
        np.testing.assert_array_equal(after[k], before[k])
    for e in rep.layers:
        assert len(e["losses"]) == 4
        assert e["final_loss"] < e["initial_loss"], e
        assert e["losses"][-1] < e["losses"][0], e
    assert not model.training and not model[3].training  # modes restored
    assert rep["4"]["label"] == "4 (Linear)" and "->" in repr(rep)


def test_pretrain_conv_autoencoder():
    x, _ = _digits(128)
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(6 * 2 * 2, 10))
    w_out = model[6].weight.data.copy()
    rep = pretrain_greedy(model, x, epochs=3, seed=0, lr=1e-2, batch_size=32)
    assert [e["layer"] for e in rep.layers] == ["0", "3"]
    assert all(e["final_loss"] < e["initial_loss"] for e in rep.layers)
    np.testing.assert_array_equal(model[6].weight.data, w_out)


def test_pretrain_arguments():
    x, y = _digits(64)
    with pytest.raises(ValueError, match="method"):
        pretrain_greedy(_mlp(), x, method="rbm")
    with pytest.raises(ValueError, match="y"):
        pretrain_greedy(_mlp(), x, method="supervised")
    with pytest.raises(TypeError, match="Module"):
        pretrain_greedy("not a model", x)
    with pytest.raises(ValueError, match="hidden"):
        pretrain_greedy(nn.Linear(64, 2), x.reshape(len(x), -1))
    with pytest.raises(ValueError, match="hidden"):
        pretrain_greedy(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), x)
