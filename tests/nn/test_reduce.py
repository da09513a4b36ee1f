"""The reduction layers (Mean, Sum, Amax, Amin, Prod, SumSquare, Norm(1), Norm(2), LogSumExp)
against torch.mean / sum / amax / amin / prod / sum(x * x) / norm / logsumexp: forward and input
gradient over one or several axes (adjacent or not, negative), keepdim, sizes 1 and primes, batch
1, contiguous runs and strided blocks (the other layers' special cases: test_reduce_more.py); Amax
ties share the gradient as torch.amax's do, NaN propagates; bad arguments; in a graph; save/load,
repr and get_config."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn

EPS32 = np.finfo(np.float32).eps
CASES = [((2, 3), 1), ((2, 3), -1), ((1, 5, 7), 2), ((3, 1, 4), 1), ((2, 3, 5, 7), (1, 3)),
         ((2, 3, 5, 7), (2, 3)), ((2, 3, 5, 7), (-1, 1, 2)), ((1, 13, 11), (1, 2)),
         ((4, 2, 3, 2, 5), (1, 4)), ((2, 1031), 1), ((2, 67, 70), 1)]


def _tprod(torch, t, dim, keepdim):
    dims = sorted((dim,) if isinstance(dim, int) else dim, key=lambda d: d % t.dim(),
                  reverse=True)
    for d in dims:  # torch.prod takes one axis: the highest first, so the others keep their index
        t = torch.prod(t, d % t.dim(), keepdim=True)
    return t if keepdim else t.squeeze(tuple(d % t.dim() for d in dims))


def _torch_fn(name):
    return lambda torch, t, d, k: getattr(torch, name)(t, dim=d, keepdim=k)


# op -> (the layer from (dim, keepdim), the torch reference (torch, tensor, dim, keepdim))
LAYERS = {
    "mean": (nn.Mean, _torch_fn("mean")), "sum": (nn.Sum, _torch_fn("sum")),
    "max": (nn.Amax, _torch_fn("amax")), "min": (nn.Amin, _torch_fn("amin")),
    "prod": (nn.Prod, _tprod), "logsumexp": (nn.LogSumExp, _torch_fn("logsumexp")),
    "sumsq": (nn.SumSquare, lambda torch, t, d, k: torch.sum(t * t, dim=d, keepdim=k)),
    "l1": (lambda d, keepdim: nn.Norm(1, d, keepdim=keepdim),
           lambda torch, t, d, k: torch.norm(t, 1, dim=d, keepdim=k)),
    "l2": (lambda d, keepdim: nn.Norm(p=2, dim=d, keepdim=keepdim),
           lambda torch, t, d, k: torch.norm(t, 2, dim=d, keepdim=k)),
}
EXACT = ("mean", "sum", "max", "min")  # a sum in double, or exact: float32 rounding of the result


@pytest.mark.parametrize("op", sorted(LAYERS))
@pytest.mark.parametrize("shape,dim", CASES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_against_torch(torch, rng, op, shape, dim, keepdim):
    make, fn = LAYERS[op]
    x = rng.standard_normal(shape).astype(np.float32)
    if op == "prod":  # magnitudes near 1 keep a product of 1000 values in float32's range
        x = (np.sign(x) * rng.uniform(0.6, 1.5, shape)).astype(np.float32)
    layer = make(dim, keepdim=keepdim)
    y = layer(x)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = fn(torch, tx, dim, keepdim)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float32
    k = x.size // max(y.size, 1)
    ref = ty.detach().numpy()
    g = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    dx = layer.backward(g)
    assert dx.shape == x.shape and dx.dtype == np.float32
    if op in EXACT:
        np.testing.assert_allclose(y, ref, rtol=0,
                                   atol=4 * EPS32 * np.sqrt(k) * max(1.0, np.abs(x).max()))
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=2 * EPS32, atol=0)
    else:
        atol = 1e-30 if op == "prod" else 1e-6
        np.testing.assert_allclose(y, ref, rtol=3e-6, atol=atol)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=3e-6, atol=atol)


def test_amax_ties_split_like_torch(torch):
    x = np.array([[[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]],
                  [[5.0, -1.0, 5.0, 5.0], [0.0, 0.0, 7.0, 1.0]]], np.float32)
    for dim in (2, (1, 2), 1):
        layer = nn.Amax(dim)
        y = layer(x)
        g = np.arange(1, y.size + 1, dtype=np.float32).reshape(y.shape)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.amax(tx, dim=dim)
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(layer.backward(g), tx.grad.numpy())
    # the ties of row [2, 2, 2, 2] share g evenly
    layer = nn.Amax(2)
    layer(x)
    assert np.allclose(layer.backward(np.ones((2, 2), np.float32))[0, 1], 0.25)


def test_amax_nan_propagates(torch):
    x = np.array([[1.0, np.nan, 2.0], [0.0, -1.0, 3.0]], np.float32)
    y = nn.Amax(1)(x)
    np.testing.assert_array_equal(y, torch.amax(torch.tensor(x), 1).numpy())
    # a NaN in the vector lanes or in the tail of a contiguous run, and in a strided block
    x = np.random.default_rng(0).standard_normal((4, 37, 3)).astype(np.float32)
    x[1, 3, 0], x[2, 36, 1], x[3, 20, 2] = np.nan, np.nan, np.inf
    for dim in (1, 2, (1, 2)):
        np.testing.assert_array_equal(nn.Amax(dim)(x), torch.amax(torch.tensor(x), dim).numpy())
    xt = np.ascontiguousarray(x.transpose(0, 2, 1))
    np.testing.assert_array_equal(nn.Amax(2)(xt), torch.amax(torch.tensor(xt), 2).numpy())


def test_sum_mean_accumulate_in_double(rng):
    x = (1e4 + rng.standard_normal((2, 100003))).astype(np.float32)
    np.testing.assert_allclose(nn.Sum(1)(x), x.astype(np.float64).sum(1), rtol=2 * EPS32)
    np.testing.assert_allclose(nn.Mean(1)(x), x.astype(np.float64).mean(1), rtol=2 * EPS32)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dim: the batch axis 0 cannot be reduced"):
        nn.Mean(0)
    with pytest.raises(ValueError, match="dim: expected distinct axes"):
        nn.Sum((1, 1))
    with pytest.raises(TypeError, match="dim: expected an int or a non-empty tuple of ints"):
        nn.Amax(None)
    with pytest.raises(TypeError, match="dim: expected an int"):
        nn.Amax((1, 2.0))
    with pytest.raises(ValueError, match=r"dim \(3,\) does not name distinct non-batch axes of "
                                         "a 3-D input"):
        nn.Mean(3)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="does not name distinct non-batch axes"):
        nn.Mean(-3)(np.ones((2, 3, 4), np.float32))  # -3 is the batch axis here
    with pytest.raises(ValueError, match="does not name distinct non-batch axes"):
        nn.Mean((1, -2))(np.ones((2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="input: expected a floating-point array"):
        nn.Sum(1)(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.Sum(1).backward(np.ones(2, np.float32))
    layer = nn.Sum(1)
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2,\)"):
        layer.backward(np.ones((2, 1), np.float32))
    x = np.ones((2, 0, 3), np.float32)
    with pytest.raises(ValueError, match="max over an empty dimension"):
        nn.Amax(1)(x)
    np.testing.assert_array_equal(nn.Sum(1)(x), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="op: expected 'sum', 'mean', .* got 'median'"):
        _C.reduce_forward(np.ones((2, 3), np.float32), 1, 2, "median")
    with pytest.raises(ValueError, match="start, stop"):
        _C.reduce_forward(np.ones((2, 3), np.float32), 1, 3, "sum")
    with pytest.raises(ValueError, match="output"):
        _C.reduce_backward(np.ones(2, np.float32), np.ones((2, 3), np.float32),
                           np.ones(3, np.float32), 1, 2, "max")


def test_in_a_graph_save_load_config(tmp_path, rng):
    inp = nn.Input((3, 5, 4))
    a = nn.Mean((1, 3), keepdim=True)(inp)
    b = nn.Sum(-1)(nn.Amax(2)(inp))
    model = nn.Model(inp, [a, b])
    assert model.output_shapes == [(None, 1, 5, 1), (None, 3)]
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    ya, yb = model(x)
    np.testing.assert_allclose(ya, x.mean((1, 3), keepdims=True), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(yb, x.max(2).sum(-1), rtol=1e-6, atol=1e-6)
    back = fastnn.load(fastnn.save(model, tmp_path / "red.safetensors"))
    for u, v in zip(back(x), model(x)):
        np.testing.assert_array_equal(u, v)
    assert repr(nn.Mean((1, 3), keepdim=True)) == "Mean(dim=(1, 3), keepdim=True)"
    assert repr(nn.Amax(-1)) == "Amax(dim=-1)"
    assert nn.Sum(2).get_config() == {"dim": [2], "keepdim": False}
