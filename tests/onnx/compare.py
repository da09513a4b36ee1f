"""Comparisons shared by the torch -> ONNX -> fastnn tests."""
import numpy as np


def close(a, b, what):
    """Same shape, and equal to float32 rounding relative to b's magnitude."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, what
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b).max()),
                               err_msg=what)


def train_input_gradients(torch, model, net, x, rng):
    """Both models in train mode on x, backward of the same random output gradient: returns
    (fastnn's input gradient, PyTorch's). Parameter gradients are left on both for the caller."""
    model.train()
    xt = torch.tensor(x, requires_grad=True)
    yt = net.train()(xt)
    y = model(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    model.zero_grad()
    return model.backward(g), xt.grad.numpy()
