"""Linear on one sample (in,) and on (*, in) inputs, as PyTorch: forward, backward and parameter
gradients against torch.nn.functional.linear (the `torch` fixture); bad shapes; a Sequential on
one sample."""
import numpy as np
import pytest

import fastnn.nn as nn


@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 7), (1, 1, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_linear(torch, rng, shape, bias):
    F = torch.nn.functional
    lin = nn.Linear(7, 5, bias=bias)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape[:-1] + (5,)).astype(np.float32)
    y = lin(x)
    assert y.shape == shape[:-1] + (5,)
    dx = lin.backward(g)
    assert dx.shape == shape

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(lin.weight.data, requires_grad=True)
    bt = torch.tensor(lin.bias.data, requires_grad=True) if bias else None
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad, wt.grad.numpy(), rtol=1e-5, atol=1e-5)
    if bias:
        np.testing.assert_allclose(lin.bias.grad, bt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_one_sample_equals_batch_of_one(rng):
    lin = nn.Linear(64, 10)
    x = rng.standard_normal(64).astype(np.float32)
    y1 = lin(x)
    np.testing.assert_array_equal(y1, lin(x[None])[0])
    assert y1.shape == (10,)


def test_sequential_on_one_sample_fused_activation(rng):
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    x = rng.standard_normal(64).astype(np.float32)
    y = model(x)
    assert y.shape == (10,)
    dx = model.backward(np.ones(10, np.float32))
    assert dx.shape == (64,)
    g1 = model[0].weight.grad.copy()
    model.zero_grad()
    np.testing.assert_allclose(y, model(x[None])[0], rtol=1e-6, atol=1e-6)
    model.backward(np.ones((1, 10), np.float32))
    np.testing.assert_allclose(g1, model[0].weight.grad, rtol=1e-6, atol=1e-6)


def test_bad_shapes_name_expected_and_actual():
    lin = nn.Linear(64, 10)
    with pytest.raises(ValueError, match=r"Linear\(64, 10\): input: expected shape \(\*, 64\), "
                                         r"got \(63,\)"):
        lin(np.zeros(63, np.float32))
    with pytest.raises(ValueError, match=r"input: expected shape \(\*, 64\), got \(\)"):
        lin(np.float32(1.0))
    lin(np.zeros(64, np.float32))
    with pytest.raises(ValueError, match=r"Linear\(64, 10\): grad_out: expected shape \(10,\) "
                                         r"\(the output's\), got \(1, 10\)"):
        lin.backward(np.zeros((1, 10), np.float32))
    assert not lin.weight.grad.any()  # the failed backward accumulated nothing


def test_sparse_model_on_one_sample(rng):
    from fastnn import prune
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    prune.magnitude_prune(model, 0.8)
    sparse = prune.to_sparse(model)
    x = rng.standard_normal(64).astype(np.float32)
    y = sparse(x)
    assert y.shape == (10,)
    np.testing.assert_allclose(y, model(x), rtol=1e-5, atol=1e-5)
