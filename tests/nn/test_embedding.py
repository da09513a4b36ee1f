"""Embedding against PyTorch: forward gather and the weight gradient's scatter-add (repeated
indices, padding_idx, negative padding_idx, max_norm with norm_type, scale_grad_by_freq) on index arrays of 1 to 3 dimensions and batch 1; the
gradient the same bits at 1 and 3 threads; no input gradient (backward returns None); out-of-range,
negative and float indices refused; fit on Embedding -> Flatten -> Linear with integer x, and on a
graph Model; state_dict, save/load, repr."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn


def torch_embedding(torch, weight, idx, g, padding_idx=None):
    tw = torch.tensor(weight, requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=padding_idx)
    ty.backward(torch.tensor(g))
    return ty.detach().numpy(), tw.grad.numpy()


@pytest.mark.parametrize("idx_shape", [(1,), (7,), (3, 5), (1, 1), (2, 3, 4), (64, 9)])
@pytest.mark.parametrize("num,dim", [(1, 3), (10, 1), (13, 17), (50, 64)])
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_against_torch(torch, rng, idx_shape, num, dim, padding_idx):
    layer = nn.Embedding(num, dim, padding_idx=padding_idx)
    idx = rng.integers(0, num, idx_shape)  # many repeats: scatter-add must sum them
    y = layer(idx)
    assert y.shape == idx_shape + (dim,) and y.dtype == np.float32
    g = rng.standard_normal(y.shape).astype(np.float32)
    layer.zero_grad()
    assert layer.backward(g) is None
    ty, tdw = torch_embedding(torch, layer.weight.data, idx, g, padding_idx)
    np.testing.assert_array_equal(y, ty)
    # each row sums at most idx.size terms of |g| <= ~5
    count = np.bincount(idx.ravel(), minlength=num).max()
    np.testing.assert_allclose(layer.weight.grad, tdw, rtol=0,
                               atol=4 * np.finfo(np.float32).eps * count * np.abs(g).max())
    if padding_idx is not None:
        assert not layer.weight.grad[padding_idx].any()


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (0.5, 1.0), (2.0, 3.5),
                                                 (0.3, float("inf"))])
@pytest.mark.parametrize("freq", [False, True])
def test_max_norm_and_scale_grad_by_freq_like_torch(torch, rng, max_norm, norm_type, freq):
    """torch renormalises, in place and before the lookup, the rows the batch names whose norm
    exceeds max_norm (rows not looked up stay as they are); scale_grad_by_freq divides each row's
    gradient by its count in the batch."""
    t = torch.nn.Embedding(12, 5, max_norm=max_norm, norm_type=norm_type,
                           scale_grad_by_freq=freq)
    layer = nn.Embedding(12, 5, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=freq)
    w = (rng.standard_normal((12, 5)) * 2).astype(np.float32)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    layer.weight.data[...] = w
    idx = rng.integers(0, 8, (4, 6))  # rows 8..11 never looked up
    y = layer(idx)
    ty = t(torch.tensor(idx))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=2e-7, atol=1e-7)
    np.testing.assert_allclose(layer.weight.data, t.weight.detach().numpy(), rtol=2e-7, atol=1e-7)
    np.testing.assert_array_equal(layer.weight.data[8:], w[8:])
    g = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(g))
    layer.zero_grad()
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, t.weight.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_init_like_torch():
    layer = nn.Embedding(2000, 50, padding_idx=3)
    w = layer.weight.data
    assert not w[3].any()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01  # N(0, 1), 1e5 draws


def test_int32_uint8_and_repeated_indices(rng):
    layer = nn.Embedding(6, 4)
    idx = np.array([[5, 5, 5], [0, 5, 2]])
    want = layer.weight.data[idx]
    for dt in (np.int32, np.uint8, np.int64, np.int16):
        np.testing.assert_array_equal(layer(idx.astype(dt)), want)
    g = np.ones((2, 3, 4), np.float32)
    layer.zero_grad()
    layer.backward(g)
    np.testing.assert_array_equal(layer.weight.grad[:, 0], [1, 0, 1, 0, 0, 4])


def test_gradient_independent_of_threads(rng, threads):
    idx = rng.integers(0, 20, (500, 7))
    g = rng.standard_normal((500, 7, 33)).astype(np.float32)
    grads = []
    for t in (1, 3):
        fastnn.set_num_threads(t)
        layer = nn.Embedding(20, 33)
        layer(idx)
        layer.backward(g)
        grads.append(layer.weight.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_bad_indices():
    layer = nn.Embedding(5, 3)
    with pytest.raises(ValueError, match=r"input: expected indices in \[0, 4\].*got 5"):
        layer(np.array([[1, 5]]))
    with pytest.raises(ValueError, match=r"input: expected indices in \[0, 4\].*got -1"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="input: expected an integer array of indices, got dtype "
                                        "float32"):
        layer(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="got dtype bool"):
        layer(np.zeros((2, 3), bool))
    with pytest.raises(TypeError, match="input: expected an integer array"):
        _C.embedding_forward(np.zeros(3), layer.weight.data)
    with pytest.raises(ValueError, match=r"input: expected indices in \[0, 4\].*got 7"):
        _C.embedding_backward(np.ones((1, 3), np.float32), np.array([7]), layer.weight.grad, -1)
    with pytest.raises(ValueError, match="padding_idx: expected -1 \\(none\\) or an index"):
        _C.embedding_backward(np.ones((1, 3), np.float32), np.array([1]), layer.weight.grad, 9)
    with pytest.raises(ValueError, match="grad_output"):
        _C.embedding_backward(np.ones((2, 3), np.float32), np.array([1]), layer.weight.grad, -1)
    with pytest.raises(ValueError, match="dweight"):
        _C.embedding_backward(np.ones((1, 3), np.float32), np.array([1]),
                              np.zeros((5, 3), np.float32)[:, :2], -1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_embeddings: expected an int >= 1"):
        nn.Embedding(0, 3)
    with pytest.raises(TypeError, match="embedding_dim: expected an int"):
        nn.Embedding(3, 2.0)
    with pytest.raises(ValueError, match=r"padding_idx: expected an int in \[-3, 2\]"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(TypeError, match="padding_idx: expected an int or None"):
        nn.Embedding(3, 2, padding_idx=1.0)
    with pytest.raises(ValueError, match="max_norm: expected a finite number >= 0 or None"):
        nn.Embedding(3, 2, max_norm=-1.0)
    with pytest.raises(ValueError, match=r"norm_type: expected a number > 0 \(or inf\)"):
        nn.Embedding(3, 2, max_norm=1.0, norm_type=0)
    with pytest.raises(ValueError, match="max_norm: expected a finite number >= 0"):
        _C.embedding_renorm(np.array([0]), np.ones((3, 2), np.float32), float("nan"), 2.0)
    with pytest.raises(ValueError, match=r"input: expected indices in \[0, 2\]"):
        _C.embedding_renorm(np.array([3]), np.ones((3, 2), np.float32), 1.0, 2.0)
    with pytest.raises(ValueError, match="weight"):
        _C.embedding_renorm(np.array([0]), np.ones((3, 2), np.float32)[:, :1], 1.0, 2.0)
    with pytest.raises(ValueError, match="sparse: only False is supported"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.Embedding(3, 2).backward(np.ones((1, 2), np.float32))
    layer = nn.Embedding(3, 2)
    layer(np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 2, 2\)"):
        layer.backward(np.ones((1, 2), np.float32))


def test_frozen_and_from_pretrained(torch, rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    layer = nn.Embedding.from_pretrained(w)
    np.testing.assert_array_equal(layer(np.array([[2]]))[0, 0], w[2])
    layer.backward(np.ones((1, 1, 3), np.float32))
    assert not layer.weight.grad.any() and not layer.weight.requires_grad
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def _task(rng, n=512, seq=6, vocab=12):
    x = rng.integers(0, vocab, (n, seq))
    y = (x[:, 0] < vocab // 2).astype(np.int64)  # the class is told by the first token
    return x, y


def test_fit_sequential_with_integer_input(rng):
    x, y = _task(rng)
    m = nn.Sequential(nn.Embedding(12, 8), nn.Flatten(), nn.Linear(48, 2))
    opt = fastnn.optim.Adam(m.parameters(), lr=0.02)
    hist = fastnn.fit(m, nn.CrossEntropyLoss(), opt, x, y, batch_size=32, epochs=5, verbose=0,
                      seed=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    m.eval()
    assert (m(x).argmax(1) == y).mean() > 0.95
    assert (fastnn.predict(m, x).argmax(1) == y).mean() > 0.95


def test_fit_graph_model_with_integer_input(rng):
    x, y = _task(rng)
    inp = nn.Input((6,))
    e = nn.Embedding(12, 8)(inp)
    h = nn.Mean(1)(nn.LayerNorm(8)(e))
    out = nn.Linear(8, 2)(nn.Add()(h, nn.Flatten()(nn.Amax(1)(e))))
    model = nn.Model(inp, out)
    assert model.output_shapes == [(None, 2)]
    opt = fastnn.optim.Adam(model.parameters(), lr=0.02)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=32, epochs=4,
                      verbose=0, seed=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_state_dict_save_load_repr(torch, tmp_path, rng):
    m = nn.Sequential(nn.Embedding(9, 4, padding_idx=2), nn.Flatten(), nn.Linear(12, 3))
    t = torch.nn.Sequential(torch.nn.Embedding(9, 4, padding_idx=2), torch.nn.Flatten(),
                            torch.nn.Linear(12, 3))
    sd, tsd = m.state_dict(), t.state_dict()
    assert list(sd) == list(tsd) and all(sd[k].shape == tuple(tsd[k].shape) for k in sd)
    m.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    x = rng.integers(0, 9, (5, 3))
    np.testing.assert_allclose(m(x), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    back = fastnn.load(fastnn.save(m, tmp_path / "emb.safetensors"))
    np.testing.assert_array_equal(back(x), m(x))
    assert repr(m[0]) == "Embedding(9, 4, padding_idx=2)"
    assert repr(nn.Embedding(9, 4)) == "Embedding(9, 4)"
    e = nn.Embedding(9, 4, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True)
    assert repr(e) == "Embedding(9, 4, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True)"
    back = nn.Embedding.from_config(e.get_config())
    assert (back.max_norm, back.norm_type, back.scale_grad_by_freq) == (1.5, 1.0, True)
