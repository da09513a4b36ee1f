"""LayerNorm against PyTorch in float64 (forward, input / weight / bias gradients): rows of length
1, primes and 4096, rows at a large offset (1e4 + N(0, 1): a one-pass sum(x^2) - mean^2 in float
would lose every digit), batch 1, 2-D to 4-D inputs, normalized_shape of one to three axes, no
affine / no bias; the parameter gradients the same bits at 1 and 3 threads; bad arguments;
state_dict keys and shapes, save/load, repr."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn

EPS32 = np.finfo(np.float32).eps


def tol(ref, k):
    """float32 rounding of a result built from k terms: eps * sqrt(k) * max|value|."""
    return 4 * EPS32 * np.sqrt(k) * max(1.0, float(np.abs(ref).max()))


def torch_ln(torch, x, ns, eps, weight, bias, g):
    """PyTorch's layer_norm in float64 on the same values: (y, dx, dweight, dbias)."""
    t = lambda a: None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tx, tw, tb = t(x), t(weight), t(bias)
    ty = torch.nn.functional.layer_norm(tx, ns, tw, tb, eps)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    grad = lambda a: None if a is None else a.grad.numpy()
    return ty.detach().numpy(), grad(tx), grad(tw), grad(tb)


CASES = [((4, 1), (1,)), ((3, 7), (7,)), ((1, 13), (13,)), ((2, 5, 11), (11,)),
         ((2, 3, 5, 7), (5, 7)), ((2, 3, 4, 5), (3, 4, 5)), ((5, 4096), (4096,)),
         ((1, 2, 31), (31,))]


@pytest.mark.parametrize("shape,ns", CASES)
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_against_torch_float64(torch, rng, shape, ns, affine, bias, offset):
    x = (offset + rng.standard_normal(shape)).astype(np.float32)
    layer = nn.LayerNorm(ns, eps=1e-5, elementwise_affine=affine, bias=bias)
    if affine:
        layer.weight.data[...] = rng.standard_normal(ns).astype(np.float32)
        if bias:
            layer.bias.data[...] = rng.standard_normal(ns).astype(np.float32)
    y = layer(x)
    g = rng.standard_normal(shape).astype(np.float32)
    layer.zero_grad()
    dx = layer.backward(g)
    w = layer.weight.data if affine else None
    b = layer.bias.data if affine and bias else None
    ty, tdx, tdw, tdb = torch_ln(torch, x, ns, 1e-5, w, b, g)
    k = int(np.prod(ns))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, ty, rtol=0, atol=tol(ty, k))
    np.testing.assert_allclose(dx, tdx, rtol=0, atol=tol(tdx, k))
    rows = x.size // k
    if affine:
        np.testing.assert_allclose(layer.weight.grad, tdw, rtol=0, atol=tol(tdw, rows))
        if bias:
            np.testing.assert_allclose(layer.bias.grad, tdb, rtol=0, atol=tol(tdb, rows))
        else:
            assert layer.bias is None


def test_large_offset_keeps_digits(torch, rng):
    """Rows 1e4 + N(0, 1) of 4096: the output still matches the float64 result to float32
    rounding (a float one-pass variance would be pure noise here)."""
    x = (1e4 + rng.standard_normal((3, 4096))).astype(np.float32)
    y = nn.LayerNorm(4096)(x)
    ref = x.astype(np.float64)
    ref = (ref - ref.mean(1, keepdims=True)) / np.sqrt(ref.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol(ref, 4096))


def test_float32_torch_and_grads_accumulate(torch, rng):
    x = rng.standard_normal((6, 10)).astype(np.float32)
    layer = nn.LayerNorm(10)
    tl = torch.nn.LayerNorm(10)
    np.testing.assert_allclose(layer(x), tl(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    g = rng.standard_normal(x.shape).astype(np.float32)
    layer.zero_grad()
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)


def test_parameter_gradients_independent_of_threads(rng, threads):
    x = rng.standard_normal((1000, 33)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    out = []
    for t in (1, 3):
        fastnn.set_num_threads(t)
        layer = nn.LayerNorm(33)
        layer(x)
        dx = layer.backward(g)
        out.append((dx, layer.weight.grad.copy(), layer.bias.grad.copy()))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_frozen_parameters_get_no_gradient(rng):
    layer = nn.LayerNorm(4)
    layer.weight.requires_grad = False
    x = rng.standard_normal((3, 4)).astype(np.float32)
    layer(x)
    layer.backward(np.ones_like(x))
    assert not layer.weight.grad.any() and layer.bias.grad.any()


def test_state_dict_like_torch(torch, tmp_path, rng):
    m = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8))
    tm = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8))
    sd = m.state_dict()
    tsd = tm.state_dict()
    assert list(sd) == list(tsd)
    assert all(sd[k].shape == tuple(tsd[k].shape) for k in sd)
    tm[1].weight.data.uniform_()
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(m(x), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    back = fastnn.load(fastnn.save(m, tmp_path / "ln.safetensors"))
    np.testing.assert_array_equal(back(x), m(x))
    assert list(nn.LayerNorm((2, 3), bias=False).state_dict()) == ["weight"]
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    assert repr(m[1]) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True)"


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="normalized_shape: expected an int >= 1"):
        nn.LayerNorm(0)
    with pytest.raises(TypeError, match="normalized_shape: expected an int or a non-empty"):
        nn.LayerNorm(())
    with pytest.raises(TypeError, match="normalized_shape: expected an int"):
        nn.LayerNorm(2.5)
    with pytest.raises(ValueError, match="eps: expected a finite number >= 0"):
        nn.LayerNorm(3, eps=float("nan"))
    layer = nn.LayerNorm((3, 4))
    with pytest.raises(ValueError,
                       match=r"input: expected shape \(N, \*, 3, 4\), got \(2, 4, 3\)"):
        layer(np.ones((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"input: expected shape"):
        layer(np.ones((3, 4), np.float32))  # no batch axis
    with pytest.raises(TypeError, match="input: expected a floating-point array"):
        layer(np.ones((2, 3, 4), np.int64))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.LayerNorm(3).backward(np.ones((1, 3), np.float32))
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="normalized_ndim"):
        _C.layernorm_forward(x, None, None, 3, 1e-5)
    with pytest.raises(ValueError, match="weight"):
        _C.layernorm_forward(x, np.ones(4, np.float32), None, 1, 1e-5)
    with pytest.raises(ValueError, match="eps: expected a finite number >= 0"):
        _C.layernorm_forward(x, None, None, 1, -1.0)
    y, mean, rstd = _C.layernorm_forward(x, None, None, 1, 1e-5)
    assert mean.dtype == rstd.dtype == np.float64
    with pytest.raises(ValueError, match="rstd"):
        _C.layernorm_backward(x, x, mean, rstd[:1], None, 1, True, None, None)
    with pytest.raises(ValueError, match="dweight"):
        _C.layernorm_backward(x, x, mean, rstd, None, 1, False, np.zeros(2, np.float32), None)


def test_empty_batch_and_trains(rng):
    layer = nn.LayerNorm(5)
    assert layer(np.ones((0, 5), np.float32)).shape == (0, 5)
    m = nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.ReLU(), nn.Linear(5, 2))
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    opt = fastnn.optim.Adam(m.parameters(), lr=0.05)
    hist = fastnn.fit(m, nn.CrossEntropyLoss(), opt, x, y, batch_size=16, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
