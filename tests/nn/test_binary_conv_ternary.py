"""BinaryConv2d, TernaryLinear, TernaryConv2d: train and eval (packed / bit-plane) forwards against
their numpy/PyTorch definitions, straight-through gradients, bad arguments, state_dict layout,
save/load, and a ternary MLP on MNIST within 1.5 pp of the same float MLP. The references are
float64 numpy (a direct convolution and its gradients), so these run without PyTorch."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.binary import ternary_weight

def conv_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """float64 direct convolution (NCHW, groups 1): a sum over the kernel taps."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    w = np.asarray(w, np.float64)
    o, _, kh, kw = w.shape
    oh = (x.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            xs = x[:, :, i * dilation[0]:i * dilation[0] + stride[0] * (oh - 1) + 1:stride[0],
                   j * dilation[1]:j * dilation[1] + stride[1] * (ow - 1) + 1:stride[1]]
            y += np.einsum("nchw,oc->nohw", xs, w[:, :, i, j])
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]


def conv_grads_ref(x, w, g, stride=(1, 1), padding=(0, 0)):
    """(dx, dw) of conv_ref (dilation 1) for the output gradient g, float64."""
    ph, pw = padding
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    w, g = np.asarray(w, np.float64), np.asarray(g, np.float64)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    _, _, kh, kw = w.shape
    oh, ow = g.shape[2:]
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(None), slice(i, i + stride[0] * (oh - 1) + 1, stride[0]),
                  slice(j, j + stride[1] * (ow - 1) + 1, stride[1]))
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", g, xp[sl])
            dxp[sl] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return dxp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw], dw


def binary_conv_ref(layer, x):
    w = layer.weight.data.astype(np.float64)
    alpha = np.abs(w).reshape(w.shape[0], -1).mean(1)
    wb = np.where(w < 0, -1.0, 1.0) * alpha[:, None, None, None]
    pad = layer.padding
    if layer.binary_inputs:
        xb = np.where(x < 0, -1.0, 1.0)
        xb = np.pad(xb, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])),
                    constant_values=layer.pad_value)
        pad = (0, 0)
    else:
        xb = x.astype(np.float64)
    b = None if layer.bias is None else layer.bias.data
    return conv_ref(xb, wb, b, layer.stride, pad, layer.dilation)


CASES = [  # (C_in, C_out, k, stride, padding, dilation, H, W, batch, pad_value)
    (1, 1, 1, 1, 0, 1, 1, 1, 1, 1.0),
    (3, 5, 3, 1, 1, 1, 7, 5, 2, 1.0),
    (7, 4, 3, 2, 2, 1, 9, 8, 1, -1.0),
    (8, 3, 3, 1, 1, 2, 6, 7, 2, 1.0),
    (13, 6, 5, 1, 2, 1, 5, 5, 1, -1.0),   # K = 325: five words, a partial last one
    (64, 2, 1, 1, 0, 1, 3, 3, 2, 1.0),    # K = 64: exactly one word
]


@pytest.mark.parametrize("binary_inputs", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_binary_conv_train_and_eval_match_definition(isa, binary_inputs, case, rng):
    ci, co, k, s, p, d, h, w, n, pv = case
    layer = nn.BinaryConv2d(ci, co, k, stride=s, padding=p, dilation=d,
                            binary_inputs=binary_inputs, pad_value=pv)
    x = rng.standard_normal((n, ci, h, w)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = 0.0  # sign(0) = +1
    ref = binary_conv_ref(layer, x)
    kk = ci * k * k
    tol = np.finfo(np.float32).eps * np.sqrt(kk) * 8 * (np.abs(ref).max() + 1)
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)
    layer.eval()  # packed: im2col of the sign bits + XNOR/popcount (binary inputs)
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)
    np.testing.assert_allclose(layer(x[0]), ref[0], rtol=0, atol=tol)  # one CHW image


@pytest.mark.parametrize("binary_inputs", [False, True])
def test_binary_conv_ste_gradients(binary_inputs, rng):
    layer = nn.BinaryConv2d(3, 4, 3, padding=1, binary_inputs=binary_inputs)
    layer.weight.data[0, 0, 0, :2] = [1.5, -2.0]  # outside the STE window: no gradient
    x = (rng.standard_normal((2, 3, 5, 6)) * 1.3).astype(np.float32)
    g = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    layer(x)
    dx = layer.backward(g)
    w = layer.weight.data.astype(np.float64)
    alpha = np.abs(w).reshape(4, -1).mean(1)
    xb = np.where(x < 0, -1.0, 1.0) if binary_inputs else x.astype(np.float64)
    pad = 1
    if binary_inputs:
        xb = np.pad(xb, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=1.0)
        pad = 0
    wb = np.where(w < 0, -1.0, 1.0) * alpha[:, None, None, None]
    gx, gw = conv_grads_ref(xb, wb, g, padding=(pad, pad))
    want_dw = gw * alpha[:, None, None, None] * (np.abs(w) <= 1)
    want_dx = gx
    if binary_inputs:
        want_dx = want_dx[:, :, 1:-1, 1:-1] * (np.abs(x) <= 1)
    np.testing.assert_allclose(layer.weight.grad, want_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad, g.sum((0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert (layer.weight.grad[0, 0, 0, :2] == 0).all()


def test_binary_conv_bad_arguments():
    with pytest.raises(ValueError, match="pad_value: expected 1.0 or -1.0"):
        nn.BinaryConv2d(3, 4, 3, binary_inputs=True, pad_value=0.0)
    with pytest.raises(ValueError, match="groups: expected 1 with binary_inputs=True, got 3"):
        nn.BinaryConv2d(3, 6, 3, groups=3, binary_inputs=True)
    layer = nn.BinaryConv2d(3, 4, 3, binary_inputs=True)
    for mode in (layer.train, layer.eval):
        mode()
        with pytest.raises(ValueError, match="channels"):
            layer(np.ones((1, 2, 5, 5), np.float32))


def test_ternary_weight_definition(rng):
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w[3] = 0.0  # a channel with no weight above its threshold: alpha 0
    t, alpha = ternary_weight(w)
    for c in range(4):
        a = np.abs(w[c].astype(np.float64))
        delta = 0.7 * a.mean()
        keep = a > delta
        np.testing.assert_array_equal(t[c], np.sign(w[c]) * keep)
        want = a[keep].mean() if keep.any() else 0.0
        assert alpha[c] == pytest.approx(want, rel=1e-6)
    assert set(np.unique(t)) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("K,N,B", [(1, 3, 1), (63, 5, 2), (64, 8, 7), (65, 4, 3), (1000, 9, 4)])
def test_ternary_linear_train_eval_and_ste(isa, K, N, B, rng):
    layer = nn.TernaryLinear(K, N)
    x = rng.standard_normal((B, K)).astype(np.float32)
    t, alpha = ternary_weight(layer.weight.data)
    wq = t.astype(np.float64) * alpha[:, None]
    ref = x.astype(np.float64) @ wq.T + layer.bias.data
    tol = np.finfo(np.float32).eps * K * np.abs(x).max() * (alpha.max() + 1) * 2 + 1e-6
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)
    g = rng.standard_normal((B, N)).astype(np.float32)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, g @ wq, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.weight.grad, g.T @ x, rtol=1e-4, atol=1e-4)  # STE
    layer.eval()  # two bit-planes, additions only
    np.testing.assert_allclose(layer(x), ref, rtol=0, atol=tol)


def test_ternary_conv_train_eval_and_ste(rng):
    layer = nn.TernaryConv2d(3, 5, 3, stride=2, padding=1)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    t, alpha = ternary_weight(layer.weight.data)
    wq = t * alpha[:, None, None, None]
    y = conv_ref(x, wq, layer.bias.data, (2, 2), (1, 1))
    np.testing.assert_allclose(layer(x), y, rtol=1e-4, atol=1e-4)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g)
    gx, gw = conv_grads_ref(x, wq, g, stride=(2, 2), padding=(1, 1))
    np.testing.assert_allclose(dx, gx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.weight.grad, gw, rtol=1e-4, atol=1e-4)  # STE
    layer.eval()
    np.testing.assert_allclose(layer(x), y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("make", [
    lambda: nn.BinaryConv2d(3, 4, 3, padding=1, binary_inputs=True, pad_value=-1.0),
    lambda: nn.TernaryConv2d(3, 4, 3, bias=False),
    lambda: nn.TernaryLinear(9, 4),
])
def test_state_dict_layout_and_save_load(make, tmp_path, rng):
    layer = make()
    ref = {"weight": layer.weight.shape}
    if layer.bias is not None:
        ref["bias"] = layer.bias.shape
    assert {k: v.shape for k, v in layer.state_dict().items()} == ref
    x = rng.standard_normal((2, 3, 5, 5) if "Conv" in type(layer).__name__ else (2, 9))
    x = x.astype(np.float32)
    model = nn.Sequential(layer).eval()
    want = model(x)
    fastnn.save(model, tmp_path / "m.safetensors")
    back = fastnn.load(tmp_path / "m.safetensors").eval()
    assert type(back[0]) is type(layer) and back[0].get_config() == layer.get_config()
    np.testing.assert_array_equal(back(x), want)


def test_eval_rebuilds_after_load_state_dict(rng):
    layer = nn.TernaryLinear(70, 4).eval()
    x = rng.standard_normal((2, 70)).astype(np.float32)
    layer(x)
    layer.load_state_dict({k: -v for k, v in layer.state_dict().items()})
    t, alpha = ternary_weight(layer.weight.data)
    np.testing.assert_allclose(layer(x), x @ (t * alpha[:, None]).T + layer.bias.data,
                               rtol=1e-5, atol=1e-4)


def test_ternary_mlp_mnist_within_1p5_pp_of_float():
    from tests.data.test_datasets import shared_mnist
    path = shared_mnist()
    if path is None:
        pytest.skip("MNIST not found ($FASTNN_DATA or ../shared/data/mnist.npz)")
    with np.load(path) as z:
        xtr = z["x_train"][:20000].reshape(-1, 784).astype(np.float32) / 255.0
        ytr = z["y_train"][:20000].astype(np.int64)
        xte = z["x_test"].reshape(-1, 784).astype(np.float32) / 255.0
        yte = z["y_test"].astype(np.int64)
    accs = {}
    for kind in ("float", "ternary"):
        fastnn.manual_seed(0)
        hidden = nn.Linear if kind == "float" else nn.TernaryLinear
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), hidden(256, 256), nn.ReLU(),
                              hidden(256, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = fastnn.optim.Adam(model.parameters(), lr=1e-3)
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=128, epochs=3,
                   seed=0, verbose=0)
        model.eval()
        accs[kind] = float((model(xte).argmax(1) == yte).mean())
    assert accs["float"] > 0.93, accs  # 3 epochs on 20,000 images
    assert accs["ternary"] >= accs["float"] - 0.015, accs


def test_save_pack_bits_1_and_2_bits_per_weight(tmp_path, rng):
    """fastnn.save(pack_bits=True): 1 bit per binary weight, 2 per ternary weight (+ a float32
    scale per channel); the loaded model's outputs are the saved model's, bit for bit."""
    fastnn.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.BinaryConv2d(8, 16, 3, padding=1, binary_inputs=True), nn.BatchNorm2d(16),
        nn.TernaryConv2d(16, 16, 3), nn.ReLU(), nn.Flatten(),
        nn.BinaryLinear(16 * 10 * 10, 300), nn.ReLU(), nn.TernaryLinear(300, 200), nn.ReLU(),
        nn.Linear(200, 10))
    x = rng.standard_normal((3, 1, 12, 12)).astype(np.float32)
    model(x)
    model.eval()
    want = model(x)
    full = fastnn.save(model, tmp_path / "float.safetensors")
    small = fastnn.save(model, tmp_path / "bits.safetensors", pack_bits=True)
    back = fastnn.load(small).eval()
    np.testing.assert_array_equal(back(x), want)
    back.train(), model.train()
    np.testing.assert_array_equal(back(x), model(x))  # the training forward too
    n_bin = 16 * 8 * 9 + 300 * 1600
    n_ter = 16 * 16 * 9 + 200 * 300
    saved = 4 * (n_bin + n_ter) - (n_bin / 8 + n_ter / 4)
    gain = os.path.getsize(full) - os.path.getsize(small)
    assert gain >= 0.95 * saved, (gain, saved)
    # the float file keeps the latent weights; the packed one the binarised values
    latent = fastnn.load(full)
    np.testing.assert_array_equal(latent[7].weight.data, model[7].weight.data)
    w = back[7].weight.data
    assert len(np.unique(np.abs(w), axis=None)) <= 300


def test_pack_bits_bad_files(tmp_path, rng):
    from fastnn import io as fio
    model = nn.Sequential(nn.TernaryLinear(20, 4))
    path = fastnn.save(model, tmp_path / "t.safetensors", pack_bits=True)
    meta, tensors = fio._read(path)
    tensors = dict(tensors)
    tensors["bits/0.weight/pos"] = tensors["bits/0.weight/neg"].copy()
    tensors["bits/0.weight/pos"][0] |= tensors["bits/0.weight/neg"][0] | 1
    with pytest.raises(ValueError, match="the \\+1 and -1 planes overlap"):
        fio._build_model(meta, tensors, "t")
    tensors = dict(fio._read(path)[1])
    tensors["bits/0.weight/alpha"] = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"alpha: expected float32 of shape \(4,\)"):
        fio._build_model(meta, tensors, "t")
    tensors = dict(fio._read(path)[1])
    tensors["bits/0.weight/neg"] = tensors["bits/0.weight/neg"][:-1]
    with pytest.raises(ValueError, match=r"neg: expected uint8 of shape \(10,\)"):
        fio._build_model(meta, tensors, "t")
    raw = bytearray(open(path, "rb").read())
    raw[-5] ^= 0xFF  # the checksum covers the planes
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        fastnn.load(tmp_path / "bad.safetensors")
