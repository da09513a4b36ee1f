"""Comparisons shared by the torch -> ONNX -> fastnn tests."""
import numpy as np

import fastnn


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


def against_torch(torch, net, model, shape, rng, name):
    """An imported model against the PyTorch net it came from: eval outputs at batch sizes 1 and
    5 (neither the one exported with); train mode (Dropout layers of both set to eval: their masks
    are random): outputs, the running statistics moved as PyTorch's did (ONNX momentum 0.9 ->
    PyTorch's 0.1), input gradients."""
    net.eval()
    model.eval()
    for n in (1, 5):
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"{name} eval, batch {n}")
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    model.train()
    for m in model.modules():
        if isinstance(m, fastnn.nn.Dropout):
            m.eval()
    x = rng.standard_normal((6,) + shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = net(xt)
    y = model(x)
    close(y, yt.detach().numpy(), f"{name} train-mode output")
    ours = [m for m in model.modules() if isinstance(m, fastnn.nn.batchnorm._BatchNorm)]
    theirs = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(ours) == len(theirs)
    key = lambda a: (a.size, round(float(np.sort(a)[0]), 3))  # noqa: E731 (order-free match)
    for a, b in zip(sorted((m.running_var for m in ours), key=key),
                    sorted((m.running_var.numpy() for m in theirs), key=key)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    close(model.backward(g), xt.grad.numpy(), f"{name} input gradient")
