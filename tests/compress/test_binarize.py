"""compress.binarize / ternarize: which layers convert (first and last stay float), weights kept,
the storage report, graph models, accuracy after fine-tuning, and that the other subsystems do not
take a binary/ternary layer for a float one."""
import numpy as np
import pytest

import fastnn
from fastnn import compress, nn


def cnn():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 32), nn.ReLU(),
                         nn.Linear(32, 5))


@pytest.mark.parametrize("kind", ["binarize", "ternarize"])
def test_converts_all_but_first_and_last(kind, rng):
    model = cnn()
    new, rep = getattr(compress, kind)(model)
    want = ((nn.BinaryConv2d, nn.BinaryLinear) if kind == "binarize"
            else (nn.TernaryConv2d, nn.TernaryLinear))
    assert type(new[0]) is nn.Conv2d and type(new[7]) is nn.Linear  # first and last stay float
    assert type(new[2]) is want[0] and type(new[5]) is want[1]
    assert type(model[2]) is nn.Conv2d  # the input model is untouched
    np.testing.assert_array_equal(new[2].weight.data, model[2].weight.data)
    np.testing.assert_array_equal(new[5].bias.data, model[5].bias.data)
    assert set(rep["layers"]) == {"2", "5"}
    bits = 1 if kind == "binarize" else 2
    n = 8 * 8 * 9 + 288 * 32
    assert rep["bits"] == bits
    assert rep["packed_bytes"] == (rep["float_bytes"] - 4 * n + -(-8 * 8 * 9 * bits // 8) + 32
                                   + -(-288 * 32 * bits // 8) + 128)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    new.eval()
    assert new(x).shape == (2, 5)
    _, rep2 = getattr(compress, kind)(model, skip_first_last=False)
    assert set(rep2["layers"]) == {"0", "2", "5", "7"}
    _, rep3 = getattr(compress, kind)(model, layers=["5"])
    assert set(rep3["layers"]) == {"5"}


def test_graph_model_and_bad_arguments(rng):
    x = nn.Input((20,))
    h = nn.ReLU()(nn.Linear(20, 16)(x))
    a, b = nn.Linear(16, 16)(h), nn.Linear(16, 16)(h)
    out = nn.Linear(16, 3)(a + b)
    model = nn.Model(x, out)
    new, rep = compress.binarize(model, binary_inputs=True)
    assert sum(isinstance(m, nn.BinaryLinear) for m in new.modules()) == 2
    xs = rng.standard_normal((4, 20)).astype(np.float32)
    assert new(xs).shape == (4, 3)
    with pytest.raises(TypeError, match="skip_first_last: expected True or False"):
        compress.binarize(model, skip_first_last=1)
    with pytest.raises(ValueError, match="x, y: give both"):
        compress.ternarize(model, x=xs)
    with pytest.raises(ValueError, match="no Linear or Conv2d layer to convert"):
        compress.binarize(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)))


def test_other_subsystems_leave_bit_layers_alone(rng):
    from fastnn import prune, quant
    new, _ = compress.ternarize(cnn())
    masks = prune.magnitude_prune(new, 0.5)  # Linear/Conv2d only: the ternary layers are not
    del masks
    assert new[2].weight.mask is None and new[5].weight.mask is None
    assert new[0].weight.mask is not None
    x = rng.standard_normal((16, 1, 6, 6)).astype(np.float32)
    new.eval()
    q = quant.quantize(new, x, check_speed=False)
    np.testing.assert_allclose(q(x), new(x), rtol=0.1, atol=0.1 * np.abs(new(x)).max())


def test_ternarized_mlp_digits_fine_tuned(rng):
    from sklearn.datasets import load_digits  # the test extra
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], y[perm].astype(np.int64)
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss()
    fastnn.fit(model, loss, fastnn.optim.Adam(model.parameters(), lr=3e-3), X[:1400], y[:1400],
               batch_size=64, epochs=15, seed=0, verbose=0)
    new, rep = compress.ternarize(model, x=X[1400:], y=y[1400:])
    assert rep["accuracy_before"] > 0.93
    fastnn.fit(new, loss, fastnn.optim.Adam(new.parameters(), lr=1e-3), X[:1400], y[:1400],
               batch_size=64, epochs=10, seed=0, verbose=0)
    acc = float((fastnn.predict(new, X[1400:]).argmax(1) == y[1400:]).mean())
    assert acc >= rep["accuracy_before"] - 0.02, (acc, rep)
