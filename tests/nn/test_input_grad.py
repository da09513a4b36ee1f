"""backward(..., input_grad=False): the caller wants parameter gradients only (a training step;
fit uses it). First layers skip their input gradient (Linear, Conv2d: no dX), layers with nothing
trainable before or in them are not back-propagated at all, and every parameter gradient is the
same bits as with the default."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn import _calls


class _Probe(nn.Module):
    """Notes, per backward, whether the layer was allowed to skip its input gradient."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seen = []

    def backward(self, grad_out):
        self.seen.append(_calls.input_grad_skipped())
        return super().backward(grad_out)


class ProbeLinear(_Probe, nn.Linear):
    pass


class ProbeConv(_Probe, nn.Conv2d):
    pass


def _grads(model):
    return {k: p.grad.copy() for k, p in model.named_parameters() if p.requires_grad}


def _step(model, x, g, **kw):
    model.zero_grad()
    model(x)
    out = model.backward(g, **kw)
    return out, _grads(model)


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_sequential_cnn_same_grads_and_no_input_grad(rng):
    fastnn.manual_seed(3)
    conv, fc = ProbeConv(2, 4, 3, padding=1), ProbeLinear(4 * 6 * 6, 5)
    m = nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), fc)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    dx, want = _step(m, x, g)
    assert dx.shape == x.shape
    assert conv.seen == [False] and fc.seen == [False]
    out, got = _step(m, x, g, input_grad=False)
    assert out is None
    assert conv.seen == [False, True] and fc.seen == [False, False]
    _same(got, want)


def test_parameter_free_prefix_passes_the_skip_on(rng):
    fc1, fc2 = ProbeLinear(12, 6), ProbeLinear(6, 2)
    m = nn.Sequential(nn.Flatten(), fc1, nn.ReLU(), fc2)
    x = rng.standard_normal((4, 3, 4)).astype(np.float32)
    g = rng.standard_normal((4, 2)).astype(np.float32)
    _, want = _step(m, x, g)
    _, got = _step(m, x, g, input_grad=False)
    assert fc1.seen == [False, True] and fc2.seen == [False, False]
    _same(got, want)


def test_frozen_prefix_is_not_back_propagated(rng):
    fc1, fc2, fc3 = ProbeLinear(5, 7), ProbeLinear(7, 6), ProbeLinear(6, 3)
    for p in fc1.parameters():
        p.requires_grad = False  # transfer learning: a frozen first layer
    m = nn.Sequential(fc1, nn.ReLU(), fc2, nn.ReLU(), fc3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    _, want = _step(m, x, g)
    _, got = _step(m, x, g, input_grad=False)
    assert fc1.seen == [False]  # the second backward never reached the frozen layer
    assert fc2.seen == [False, True] and fc3.seen == [False, False]
    _same(got, want)


def test_graph_with_mixed_inputs(rng):
    a, b = nn.Input((4,)), nn.Input((4,))
    f1, f2, f3 = ProbeLinear(4, 4), ProbeLinear(4, 4), ProbeLinear(8, 2)
    h = f1(a)
    y = f3(nn.Concat()(h, f2(nn.Add()(h, b))))  # f2 reads h (needs a gradient) and b (data)
    m = nn.Model([a, b], y)
    xa, xb = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    g = rng.standard_normal((3, 2)).astype(np.float32)

    def step(**kw):
        m.zero_grad()
        m(xa, xb)
        return m.backward(g, **kw), _grads(m)

    dxs, want = step()
    assert len(dxs) == 2 and dxs[0].shape == xa.shape
    out, got = step(input_grad=False)
    assert out is None
    assert f1.seen == [False, True] and f2.seen == [False, False] and f3.seen == [False, False]
    _same(got, want)


class Custom(nn.Module):
    """A module with its own backward that calls its children's: they keep their input
    gradients (the chain needs them) even when the caller of Custom wants none."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = ProbeLinear(3, 4), ProbeLinear(4, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x))

    def backward(self, grad_out):
        return self.fc1.backward(self.fc2.backward(grad_out))


def test_custom_backward_children_keep_their_input_grads(rng):
    m = Custom()
    x = rng.standard_normal((5, 3)).astype(np.float32)
    g = rng.standard_normal((5, 2)).astype(np.float32)
    _, want = _step(m, x, g)
    out, got = _step(m, x, g, input_grad=False)
    assert out is None
    assert m.fc1.seen == [False, False] and m.fc2.seen == [False, False]
    _same(got, want)
    # Inside a Sequential the custom module is a first layer: it is told, its children are not.
    s = nn.Sequential(Custom())
    _, want = _step(s, x, g)
    _, got = _step(s, x, g, input_grad=False)
    assert s[0].fc1.seen == [False, False] and s[0].fc2.seen == [False, False]
    _same(got, want)


@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_single_layer(rng, layer):
    if layer == "linear":
        m, x = nn.Linear(6, 3), rng.standard_normal((2, 6)).astype(np.float32)
    else:
        m, x = nn.Conv2d(2, 3, 3), rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = m(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    _, want = _step(m, x, g)
    out, got = _step(m, x, g, input_grad=False)
    assert out is None
    _same(got, want)


def test_fit_matches_a_manual_loop(rng):
    from fastnn import optim
    x = rng.standard_normal((32, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)

    def model():
        fastnn.manual_seed(11)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))

    a = model()
    fastnn.fit(a, nn.CrossEntropyLoss(), optim.SGD(a.parameters(), lr=0.1), x, y,
               batch_size=8, epochs=1, shuffle=False, verbose=0)
    b = model()
    opt, loss = optim.SGD(b.parameters(), lr=0.1), nn.CrossEntropyLoss()
    for i in range(0, 32, 8):
        loss(b(x[i:i + 8]), y[i:i + 8])
        opt.zero_grad()
        b.backward(loss.backward())  # the default: input gradients computed, then dropped
        opt.step()
    for (k, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)
