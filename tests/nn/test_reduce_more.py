"""Amin, Prod, SumSquare, Norm(p=1|2) and LogSumExp (compared with PyTorch on the common cases in
test_reduce.py): Prod with zeros (one: the product of the rest; two: none),
Norm at zero, LogSumExp with infinities and large values; bad arguments; save/load and config."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn

def test_prod_zeros_like_torch(torch):
    x = np.array([[[2.0, 0.0, 3.0, -1.0], [0.0, 5.0, 0.0, 2.0], [1.5, 2.0, -2.0, 0.5]]],
                 np.float32)
    for dim in (2, 1):
        layer = nn.Prod(dim)
        y = layer(x)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.prod(tx, dim)
        g = np.arange(1, y.size + 1, dtype=np.float32).reshape(y.shape)
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-6)
    layer = nn.Prod(2)
    layer(x)
    dx = layer.backward(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(dx[0, 0], [0.0, -6.0, 0.0, 0.0])  # one zero: the rest's product
    np.testing.assert_array_equal(dx[0, 1], [0.0, 0.0, 0.0, 0.0])  # two zeros: no gradient


def test_amin_ties_nan_and_norm_at_zero(torch):
    x = np.array([[[1.0, -3.0, -3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]], np.float32)
    layer = nn.Amin(2)
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    torch.amin(tx, 2).backward(torch.tensor([[1.0, 2.0]]))
    np.testing.assert_array_equal(y, [[-3.0, 2.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 2.0]], np.float32)),
                                  tx.grad.numpy())
    xn = np.random.default_rng(1).standard_normal((3, 37, 3)).astype(np.float32)
    xn[1, 3, 0], xn[2, 36, 1], xn[0, 20, 2] = np.nan, np.nan, -np.inf
    for dim in (1, 2, (1, 2)):
        np.testing.assert_array_equal(nn.Amin(dim)(xn), torch.amin(torch.tensor(xn), dim).numpy())
    z = np.zeros((2, 4), np.float32)
    z[1] = [3, 0, -4, 0]
    for p in (1, 2):
        layer = nn.Norm(p, 1)
        tz = torch.tensor(z, requires_grad=True)
        ty = torch.norm(tz, p, 1)
        ty.backward(torch.ones(2))
        np.testing.assert_allclose(layer(z), ty.detach().numpy(), rtol=1e-7)
        np.testing.assert_allclose(layer.backward(np.ones(2, np.float32)), tz.grad.numpy(),
                                   rtol=1e-7)


def test_logsumexp_large_and_infinite(torch):
    x = np.array([[1000.0, 999.0, -5.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
                  [-np.inf, 0.5, -np.inf]], np.float32)
    layer = nn.LogSumExp(1)
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.logsumexp(tx, 1)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6)
    ty.backward(torch.ones(4))
    dx = layer.backward(np.ones(4, np.float32))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_bad_arguments():
    for p in (3, 0, "fro", True, None):
        with pytest.raises(ValueError, match="Norm: p: expected 1 or 2"):
            nn.Norm(p, 1)
    with pytest.raises(TypeError, match="Norm: dim: expected an int"):
        nn.Norm(2)
    with pytest.raises(ValueError, match="dim: the batch axis 0 cannot be reduced"):
        nn.Prod(0)
    with pytest.raises(ValueError, match="min over an empty dimension"):
        nn.Amin(1)(np.ones((2, 0, 3), np.float32))
    np.testing.assert_array_equal(nn.Prod(1)(np.ones((2, 0), np.float32)), [1.0, 1.0])
    np.testing.assert_array_equal(nn.LogSumExp(1)(np.ones((2, 0), np.float32)), [-np.inf] * 2)
    with pytest.raises(ValueError, match="op: expected 'sum', 'mean', 'max', 'min', 'prod', "
                                         "'sumsq', 'l1', 'l2' or 'logsumexp', got 'l3'"):
        _C.reduce_forward(np.ones((2, 3), np.float32), 1, 2, "l3")
    with pytest.raises(ValueError, match="input: min over an empty dimension"):
        _C.reduce_backward(np.ones((2, 3), np.float32), np.ones((2, 0, 3), np.float32),
                           np.ones((2, 3), np.float32), 1, 2, "min")


def test_in_a_graph_save_load_config(tmp_path, rng):
    inp = nn.Input((3, 5, 4))
    outs = [nn.Amin((1, 3), keepdim=True)(inp), nn.Prod(2)(inp), nn.SumSquare(-1)(inp),
            nn.Norm(1, (2, 3))(inp), nn.Norm(2, 1, keepdim=True)(inp), nn.LogSumExp(3)(inp)]
    model = nn.Model(inp, outs)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    ys = model(x)
    refs = [x.min((1, 3), keepdims=True), x.prod(2), (x * x).sum(-1), np.abs(x).sum((2, 3)),
            np.sqrt((x * x).sum(1, keepdims=True)), np.log(np.exp(x).sum(3))]
    for y, ref in zip(ys, refs):
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    back = fastnn.load(fastnn.save(model, tmp_path / "red.safetensors"))
    for u, v in zip(back(x), ys):
        np.testing.assert_array_equal(u, v)
    assert repr(nn.Norm(1, (1, 3), keepdim=True)) == "Norm(p=1, dim=(1, 3), keepdim=True)"
    assert repr(nn.LogSumExp(-1)) == "LogSumExp(dim=-1)"
    assert nn.Norm(2, 2).get_config() == {"p": 2, "dim": [2], "keepdim": False}
    assert nn.Prod(2).get_config() == {"dim": [2], "keepdim": False}
