"""BatchNorm1d / BatchNorm2d: training statistics, running-statistics updates (unbiased variance),
eval mode, gradients against finite differences, every ISA path of the row kernels, torch where
installed, bad input."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.module import module_from_config
from tests.conv_reference import batchnorm_ref, central_diff

# (n, c) shapes run the column leaves: channel counts around the vector widths and the 64-channel
# reduction block, row counts around the 128-row partial-sum chunk.
SHAPES = [(4, 3), (2, 1), (7, 13), (64, 17), (129, 70), (300, 33), (3, 512),
          (5, 2, 7), (3, 4, 16), (2, 3, 17), (2, 2, 8, 8), (3, 5, 9, 13), (2, 3, 1, 65)]


def _layer(shape, **kw):
    return (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(shape[1], **kw)


def _affine(m, rng):
    m.weight.data[:] = rng.uniform(0.5, 1.5, m.weight.shape)
    m.bias.data[:] = rng.standard_normal(m.bias.shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_running_stats(isa, rng, shape):
    m = _layer(shape, momentum=0.3)
    _affine(m, rng)
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    y = m(x)
    want, mean, var, unbiased = batchnorm_ref(x, m.weight.data, m.bias.data, 1e-5)
    np.testing.assert_allclose(y, want, rtol=0, atol=2e-5)
    np.testing.assert_allclose(m.running_mean, 0.3 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.running_var, 0.7 + 0.3 * unbiased, rtol=1e-5)
    m.eval()
    y2 = m(x)
    rm, rv = m.running_mean.astype(np.float64), m.running_var.astype(np.float64)
    bshape = (1, -1) + (1,) * (len(shape) - 2)
    want2 = (x - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-5) * \
        m.weight.data.reshape(bshape) + m.bias.data.reshape(bshape)
    np.testing.assert_allclose(y2, want2, rtol=0, atol=2e-5)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 5), (2, 3, 3, 4)])
def test_training_gradients_finite_differences(isa, rng, shape):
    m = _layer(shape)
    _affine(m, rng)
    x = rng.standard_normal(shape)
    gy = rng.standard_normal(shape)
    m(x.astype(np.float32))
    dx = m.backward(gy.astype(np.float32))
    arrays = [x.copy(), m.weight.data.astype(np.float64), m.bias.data.astype(np.float64)]
    loss = lambda: float(np.sum(batchnorm_ref(arrays[0], arrays[1], arrays[2], 1e-5)[0] * gy))
    for got, i in ((dx, 0), (m.weight.grad, 1), (m.bias.grad, 2)):
        np.testing.assert_allclose(got, central_diff(loss, arrays, i, 1e-5), rtol=1e-3, atol=2e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_row_kernels(isa, rng, shape):
    """Analytic float64 backward on every shape (row tails around the vector widths)."""
    m = _layer(shape)
    _affine(m, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    m(x)
    dx = m.backward(gy)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, -1) + (1,) * (len(shape) - 2)
    x64, g64 = x.astype(np.float64), gy.astype(np.float64)
    mean, var = x64.mean(axes), x64.var(axes)
    inv = 1 / np.sqrt(var + 1e-5)
    xhat = (x64 - mean.reshape(bshape)) * inv.reshape(bshape)
    count = x.size // shape[1]
    sdy, sdyx = g64.sum(axes), (g64 * xhat).sum(axes)
    want = m.weight.data.reshape(bshape) * inv.reshape(bshape) / count * \
        (count * g64 - sdy.reshape(bshape) - xhat * sdyx.reshape(bshape))
    # Per channel the error scales with the largest |dx| (a channel of n = 3 nearly equal values
    # has a large invstd and dx of order 100).
    scale = np.maximum(1.0, np.abs(want).max(axis=axes, keepdims=True))
    err = np.abs(dx - want) / (5e-5 * scale)
    assert err.max() <= 1.0, f"dx off by {err.max():.2f} tolerances at {np.unravel_index(err.argmax(), err.shape)}"
    np.testing.assert_allclose(m.weight.grad, sdyx, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.bias.grad, sdy, rtol=1e-5, atol=1e-4)


def test_eval_backward_and_frozen(rng):
    m = nn.BatchNorm2d(3)
    _affine(m, rng)
    m.running_mean[:] = [0.5, -1, 2]
    m.running_var[:] = [1, 4, 0.25]
    m.eval()
    m.weight.requires_grad = False
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    m(x)
    dx = m.backward(gy)
    scale = m.weight.data / np.sqrt(m.running_var + 1e-5)
    np.testing.assert_allclose(dx, gy * scale[None, :, None, None], rtol=1e-5)
    assert not m.weight.grad.any()
    np.testing.assert_allclose(m.bias.grad, gy.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m.running_mean, [0.5, -1, 2])  # eval never updates


@pytest.mark.parametrize("shape", [(8, 2, 6, 6), (300, 19)])
def test_large_mean_is_accurate(isa, rng, shape):
    m = _layer(shape, momentum=1.0)
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    y = m(x)
    _, mean, var, unbiased = batchnorm_ref(x, None, None, 1e-5)
    np.testing.assert_allclose(m.running_var, unbiased, rtol=1e-4)
    np.testing.assert_allclose(m.running_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(y.std(axis=(0,) + tuple(range(2, len(shape)))), 1.0, rtol=1e-2)


def test_eval_backward_nc_does_not_read_x(isa, rng):
    """Eval-mode dx = weight * invstd * dy on (n, c) too: a non-finite input value does not leak
    into dx (the (n, c) path must not compute 0 * x)."""
    from fastnn import _C
    c = 19
    x = rng.standard_normal((37, c)).astype(np.float32)
    x[3, 4] = np.inf
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.uniform(0.5, 1.5, c).astype(np.float32)
    mean = rng.standard_normal(c).astype(np.float32)
    invstd = rng.uniform(0.5, 2, c).astype(np.float32)
    dw, db = np.zeros(c, np.float32), np.zeros(c, np.float32)
    dx = _C.batchnorm_backward(dy, x, w, mean, invstd, False, True, dw, db)
    np.testing.assert_allclose(dx, dy * (w * invstd), rtol=1e-6)
    assert np.isfinite(dx).all()
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-5, atol=1e-5)


def test_options(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    m = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(m.state_dict()) == [] and m.weight is None
    y = m(x)
    np.testing.assert_allclose(y, batchnorm_ref(x, None, None, 1e-5)[0], atol=2e-5)
    m.eval()
    np.testing.assert_allclose(m(x), y, atol=1e-6)  # no running stats: batch statistics
    assert m.backward(np.ones_like(y)).shape == x.shape
    c = nn.BatchNorm1d(3, momentum=None)  # cumulative moving average
    batches = [rng.standard_normal((6, 3)).astype(np.float32) + i for i in range(3)]
    for b in batches:
        c(b)
    np.testing.assert_allclose(c.running_mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-5, atol=1e-6)
    assert c.num_batches_tracked == 3


def test_buffers_updated_in_place(rng):
    m = nn.BatchNorm2d(4)
    rm, rv = m.running_mean, m.running_var
    m(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    assert m.running_mean is rm and m.running_var is rv and rm.any()
    m.load_state_dict({"weight": np.ones(4), "bias": np.zeros(4), "running_mean": np.ones(4),
                       "running_var": np.ones(4), "num_batches_tracked": np.array(5)})
    before = m.running_mean.copy()
    m(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    assert not np.array_equal(before, m.running_mean)


def test_against_torch(torch, rng):
    for shape in [(8, 5), (4, 3, 6), (4, 3, 5, 7)]:
        ours = _layer(shape, momentum=0.2)
        theirs = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(shape[1], momentum=0.2)
        for step in range(3):
            x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
            xt = torch.from_numpy(x).requires_grad_()
            y, yt = ours(x), theirs(xt)
            np.testing.assert_allclose(y, yt.detach().numpy(), atol=3e-5)
            gy = rng.standard_normal(shape).astype(np.float32)
            yt.backward(torch.from_numpy(gy))
            np.testing.assert_allclose(ours.backward(gy), xt.grad.numpy(), atol=3e-5)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
        ours.eval()
        theirs.eval()
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=2e-5)
        keys = [k for k in theirs.state_dict() if k != "num_batches_tracked"]
        assert list(ours.state_dict()) == keys


def test_nan_propagates():
    m = nn.BatchNorm2d(2)
    x = np.ones((2, 2, 3, 3), np.float32)
    x[0, 0, 1, 1] = np.nan
    y = m(x)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1]).all()
    assert np.isnan(m.running_mean[0]) and np.isfinite(m.running_mean[1])


def test_repr_and_config():
    m = nn.BatchNorm2d(32)
    assert repr(m) == "BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    c = module_from_config(nn.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False).to_spec())
    assert repr(c) == "BatchNorm1d(4, eps=0.001, momentum=None, affine=False, track_running_stats=True)"


def test_bad_inputs(rng):
    m = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*input: expected a 4-D array \(N, C, H, W\), got shape \(2, 3\)"):
        m(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected 3 channels.*\(2, 4, 5, 5\)"):
        m(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm1d.*expected a 2-D or 3-D"):
        nn.BatchNorm1d(3)(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))
    assert not m.running_mean.any() and (m.running_var == 1).all()  # failed calls changed nothing
    with pytest.raises(ValueError, match="before forward"):
        m.backward(np.zeros((2, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match="eps"):
        nn.BatchNorm2d(3, eps=0)
    with pytest.raises(TypeError, match="num_features"):
        nn.BatchNorm2d(3.0)


def test_raw_binding_rejects_copies_of_running_stats():
    from fastnn import _C
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="running_mean"):
        _C.batchnorm_forward(x, None, None, np.zeros(3), np.ones(3, np.float32), True, 0.1, 1e-5)
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.batchnorm_forward(x, None, None, ro, np.ones(3, np.float32), True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="contiguous"):
        _C.batchnorm_forward(x, None, None, np.zeros(6, np.float32)[::2], np.ones(3, np.float32), True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"running_var: expected shape \(3,\)"):
        _C.batchnorm_forward(x, None, None, np.zeros(3, np.float32), np.ones(4, np.float32), True, 0.1, 1e-5)
