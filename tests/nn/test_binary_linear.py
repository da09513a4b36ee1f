"""BinaryLinear: numpy definition (train and eval/packed paths agree), STE gradients, bad input,
state_dict, and a binarized MLP on sklearn digits (first and last layer float, BN after binary)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.binary import binary_sign


def reference(layer, x):
    w = layer.weight.data
    alpha = np.abs(w).mean(axis=1, dtype=np.float64)
    xb = binary_sign(x) if layer.binary_inputs else x
    return (xb.astype(np.float64) @ (binary_sign(w) * alpha[:, None]).T) + layer.bias.data


@pytest.mark.parametrize("binary_inputs", [False, True])
@pytest.mark.parametrize("K,N,B", [(1, 3, 1), (63, 5, 2), (64, 8, 7), (65, 4, 3), (1000, 9, 4)])
def test_forward_matches_numpy_train_and_eval(isa, binary_inputs, K, N, B, rng):
    layer = nn.BinaryLinear(K, N, binary_inputs=binary_inputs)
    x = rng.standard_normal((B, K)).astype(np.float32)
    ref = reference(layer, x)
    tol = np.finfo(np.float32).eps * np.sqrt(K) * 4 * (np.abs(ref).max() + 1) * 4
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)
    layer.eval()
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)


def test_eval_repacks_after_train_and_load(rng):
    layer = nn.BinaryLinear(70, 4, binary_inputs=True).eval()
    x = rng.standard_normal((2, 70)).astype(np.float32)
    layer(x)
    sd = {k: -v for k, v in layer.state_dict().items()}
    layer.load_state_dict(sd)
    np.testing.assert_allclose(layer(x), reference(layer, x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("binary_inputs", [False, True])
def test_ste_gradients(binary_inputs, rng):
    K, N, B = 20, 6, 5
    layer = nn.BinaryLinear(K, N, binary_inputs=binary_inputs)
    layer.weight.data[0, :3] = [1.5, -2.0, 0.5]  # some weights outside the STE window
    x = (rng.standard_normal((B, K)) * 1.2).astype(np.float32)
    g = rng.standard_normal((B, N)).astype(np.float32)
    layer(x)
    dx = layer.backward(g)
    w = layer.weight.data
    alpha = np.abs(w).mean(axis=1)
    xb = binary_sign(x) if binary_inputs else x
    wb = binary_sign(w) * alpha[:, None]
    # definitional STE (sign has zero derivative almost everywhere): Larq's ste_sign
    want_dw = (g.T @ xb) * alpha[:, None] * (np.abs(w) <= 1)
    want_dx = g @ wb * ((np.abs(x) <= 1) if binary_inputs else 1)
    np.testing.assert_allclose(layer.weight.grad, want_dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, g.sum(0), rtol=1e-5, atol=1e-5)
    assert (layer.weight.grad[0, :2] == 0).all()


def test_float_input_gradient_finite_difference(rng):
    # with float inputs the output is linear in x: the input gradient is exact, check by FD
    layer = nn.BinaryLinear(7, 3)
    x = rng.standard_normal((2, 7)).astype(np.float64)
    g = rng.standard_normal((2, 3)).astype(np.float32)
    layer(x.astype(np.float32))
    dx = layer.backward(g)
    eps, i, j = 1e-2, 1, 4
    xp, xm = x.copy(), x.copy()
    xp[i, j] += eps
    xm[i, j] -= eps
    fd = ((reference(layer, xp) - reference(layer, xm)) * g).sum() / (2 * eps)
    assert dx[i, j] == pytest.approx(fd, rel=1e-4, abs=1e-4)


def test_bad_input_names_shapes():
    layer = nn.BinaryLinear(10, 3, binary_inputs=True)
    for mode in (layer.train, layer.eval):
        mode()
        with pytest.raises(ValueError, match=r"input: expected shape \(N, 10\), got \(2, 9\)"):
            layer(np.ones((2, 9), np.float32))
    with pytest.raises(ValueError, match="in_features must be >= 1"):
        nn.BinaryLinear(0, 3)


def test_state_dict_layout():
    layer = nn.BinaryLinear(5, 3)
    sd = layer.state_dict()
    assert sd["weight"].shape == (3, 5) and sd["bias"].shape == (3,)
    spec = {"class": "BinaryLinear", "config": layer.get_config()}
    assert nn.module_from_config(spec).binary_inputs is False


def test_binarized_mlp_digits():
    from sklearn.datasets import load_digits  # the test extra

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], y[perm]
    Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256),
                          nn.BinaryLinear(256, 256, binary_inputs=True), nn.BatchNorm1d(256),
                          nn.BinaryLinear(256, 256, binary_inputs=True), nn.BatchNorm1d(256),
                          nn.Linear(256, 10))
    opt = fastnn.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    for _ in range(30):
        order = rng.permutation(len(Xtr))
        for s in range(0, len(Xtr), 64):
            idx = order[s:s + 64]
            model.zero_grad()
            out = model(Xtr[idx])
            loss_fn(out, ytr[idx])
            model.backward(loss_fn.backward())
            opt.step()
    model.eval()
    acc = (model(Xte).argmax(1) == yte).mean()
    assert acc >= 0.90, acc
