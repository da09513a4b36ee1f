"""BatchNorm3d, InstanceNorm1d/2d/3d, Exp/Log/Sqrt/Pow/Maximum/Minimum and Tile against PyTorch:
outputs, input (and weight/bias) gradients, running statistics and state_dict layout over a few
training steps then eval; bad arguments -> ValueError naming the argument."""
import numpy as np
import pytest

from fastnn import nn

TOL = dict(rtol=1e-4, atol=1e-4)


def _copy_affine(torch, theirs, rng):
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2, theirs.num_features)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(theirs.num_features)))


NORMS = [("BatchNorm3d", (2, 3, 3, 4, 5), {}), ("BatchNorm3d", (1, 2, 2, 3, 3), dict(affine=False)),
         ("InstanceNorm1d", (3, 4, 9), {}), ("InstanceNorm1d", (2, 3, 5), dict(affine=True)),
         ("InstanceNorm2d", (2, 3, 5, 6), dict(affine=True, track_running_stats=True)),
         ("InstanceNorm2d", (4, 2, 3, 3), dict(track_running_stats=True, momentum=None)),
         ("InstanceNorm3d", (2, 3, 2, 3, 4), dict(affine=True, track_running_stats=True))]


@pytest.mark.parametrize("name,shape,opts", NORMS, ids=str)
def test_norm_matches_torch(torch, isa, rng, name, shape, opts):
    c = shape[1]
    ours, theirs = getattr(nn, name)(c, **opts), getattr(torch.nn, name)(c, **opts)
    if theirs.affine:
        _copy_affine(torch, theirs, rng)
    sd = {k: v.numpy() for k, v in theirs.state_dict().items() if k != "num_batches_tracked"}
    assert set(ours.state_dict()) == set(sd)
    ours.load_state_dict(sd)
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        np.testing.assert_allclose(ours(x), yt.detach().numpy(), **TOL)
        g = rng.standard_normal(shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        ours.zero_grad()
        np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), **TOL)
        if theirs.affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **TOL)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **TOL)
            theirs.zero_grad()
    if theirs.track_running_stats:
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **TOL)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **TOL)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), **TOL)
    g = rng.standard_normal(shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), **TOL)


@pytest.mark.parametrize("name", ["BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
                                  "InstanceNorm3d"])
def test_norm_bad_arguments(name):
    cls = getattr(nn, name)
    with pytest.raises(ValueError, match="num_features"):
        cls(0)
    with pytest.raises(ValueError, match="eps"):
        cls(3, eps=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        cls(3, momentum=2.0)
    with pytest.raises(ValueError, match="input"):
        cls(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="backward"):
        cls(3).backward(np.zeros((2, 3, 4, 4, 4), np.float32))


UNARY = [("Exp", "exp", (-3, 3)), ("Log", "log", (0.1, 4)), ("Sqrt", "sqrt", (0.1, 4))]


@pytest.mark.parametrize("name,fn,bounds", UNARY, ids=str)
def test_unary_matches_torch(torch, rng, name, fn, bounds):
    x = rng.uniform(*bounds, (3, 4, 5)).astype(np.float32)
    layer = getattr(nn, name)()
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, fn)(xt)
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-6)
    g = rng.standard_normal(x.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


BINARY = [("Pow", "pow", (3, 4), (3, 4)), ("Pow", "pow", (2, 3, 4), (1, 4)),
          ("Maximum", "maximum", (3, 4), (3, 4)), ("Maximum", "maximum", (2, 3, 4), (3, 1)),
          ("Minimum", "minimum", (3, 4), (3, 4)), ("Minimum", "minimum", (2, 1, 4), (3, 4))]


@pytest.mark.parametrize("name,fn,sa,sb", BINARY, ids=str)
def test_binary_matches_torch(torch, rng, name, fn, sa, sb):
    a = rng.uniform(0.2, 3, sa).astype(np.float32)
    b = rng.uniform(-2, 2, sb).astype(np.float32) if name == "Pow" else \
        rng.integers(0, 4, sb).astype(np.float32)  # ties for Maximum / Minimum
    if name != "Pow":
        a = rng.integers(0, 4, sa).astype(np.float32)
    layer = getattr(nn, name)()
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = getattr(torch, fn)(at, bt)
    np.testing.assert_allclose(layer(a, b), yt.detach().numpy(), rtol=1e-5)
    g = rng.standard_normal(yt.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    ga, gb = layer.backward(g)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_binary_bad_shapes():
    with pytest.raises(ValueError, match="broadcast"):
        nn.Maximum()(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="backward"):
        nn.Pow().backward(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("shape,reps", [((2, 3, 4), (2, 3)), ((2, 3), (4,)),
                                        ((2, 3, 4), (1, 2, 3)), ((1, 2), (2, 1, 2))], ids=str)
def test_tile_matches_torch(torch, rng, shape, reps):
    x = rng.standard_normal(shape).astype(np.float32)
    layer = nn.Tile(reps)
    xt = torch.tensor(x, requires_grad=True)
    # torch's repeat with the batch axis kept (1) and extra axes added after it
    extra = len(reps) - (len(shape) - 1)
    yt = xt.reshape((shape[0],) + (1,) * max(extra, 0) + shape[1:])
    yt = yt.repeat((1,) + (1,) * (yt.dim() - 1 - len(reps)) + tuple(reps))
    y = layer(x)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert nn.module_from_config(layer.to_spec()).repeats == layer.repeats


@pytest.mark.parametrize("reps", [3, (), (0, 2), (2, -1), (1.5,), "ab"], ids=str)
def test_tile_bad_repeats(reps):
    with pytest.raises(ValueError, match="repeats"):
        nn.Tile(reps)


def test_tile_bad_grad(rng):
    layer = nn.Tile((2,))
    with pytest.raises(ValueError, match="backward"):
        layer.backward(np.zeros((2, 6), np.float32))
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        layer.backward(np.zeros((2, 5), np.float32))


def test_save_load_round_trip(rng, tmp_path):
    import fastnn
    m = nn.Sequential(nn.InstanceNorm2d(3, affine=True, track_running_stats=True), nn.Exp(),
                      nn.Tile((1, 2, 1)), nn.Sqrt())
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    m(x)  # moves the running statistics
    m.eval()
    fastnn.save(m, tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn").eval()
    np.testing.assert_array_equal(back(x), m(x))
    np.testing.assert_array_equal(back[0].running_mean, m[0].running_mean)
