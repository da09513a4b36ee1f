"""Training-mode fusion in containers: a batch norm absorbs the element-wise activation after it
(one pass over the activations), an Add the ReLU after it (a residual join). Outputs, running
statistics and every gradient are the same bits as the layers run one by one."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn


def _layers(rng, act):
    fastnn.manual_seed(5)
    return [nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), act]


def _count_forward(layer):
    """Counts the calls of ``layer.forward`` (a fused activation's forward is never called)."""
    calls = []
    fwd = layer.forward

    def forward(*a):
        calls.append(1)
        return fwd(*a)
    layer.forward = forward
    return calls


def _run_each(layers, x, g):
    """The reference: each layer called on its own (no container, no fusion)."""
    y = x
    for layer in layers:
        y = layer(y)
    dy = g
    for layer in reversed(layers):
        dy = layer.backward(dy)
    return y, dy


def _state(layers):
    out = {}
    for i, layer in enumerate(layers):
        for k, p in layer.named_parameters():
            out[f"{i}.{k}.grad"] = p.grad.copy()
        for k, v in layer.state_dict().items():
            out[f"{i}.{k}"] = np.array(v, copy=True)
    return out


@pytest.mark.parametrize("act", [nn.ReLU, lambda: nn.LeakyReLU(0.2), nn.Sigmoid, nn.Tanh, nn.ELU])
def test_batchnorm_activation_fused_same_bits(isa, rng, threads, act):
    x = rng.standard_normal((4, 3, 7, 9)).astype(np.float32)
    g = rng.standard_normal((4, 6, 7, 9)).astype(np.float32)
    for nt in (1, 2):  # (dW sums per thread: compare at one thread count)
        fastnn.set_num_threads(nt)
        ref_layers = _layers(rng, act())
        y_ref, dx_ref = _run_each(ref_layers, x, g)
        layers = _layers(rng, act())
        m = nn.Sequential(*layers)
        calls = _count_forward(layers[2])
        y = m(x)
        assert not calls and layers[2]._y is y  # the activation's output was fused
        dx = m.backward(g)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(dx, dx_ref)
        want, got = _state(ref_layers), _state(layers)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_batchnorm_eval_and_instance_norm_not_fused(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    bn, relu = nn.BatchNorm2d(3), nn.ReLU()
    m = nn.Sequential(bn, relu)
    m.eval()
    calls = _count_forward(relu)
    m(x)
    assert calls == [1]  # eval statistics: ReLU ran on its own (the plan fuses inference)
    inorm, relu2 = nn.InstanceNorm2d(3), nn.ReLU()
    m2 = nn.Sequential(inorm, relu2)
    calls = _count_forward(relu2)
    y = m2(x)
    assert calls == [1]
    np.testing.assert_array_equal(y, relu2(inorm(x)))


def test_residual_add_relu_fused_same_bits(isa, rng, threads):
    def build():
        fastnn.manual_seed(9)
        inp = nn.Input((4, 5, 5))
        a = nn.Conv2d(4, 4, 3, padding=1)(inp)
        y = nn.ReLU()(nn.Add()(a, inp))
        return nn.Model(inp, nn.Flatten()(y))

    x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
    g = rng.standard_normal((3, 100)).astype(np.float32)
    m = build()
    relu = [mod for mod in m.modules() if isinstance(mod, nn.ReLU)][0]
    calls = _count_forward(relu)
    y = m(x)
    assert not calls  # fused into the Add
    dx = m.backward(g)
    # Reference: the same layers by hand.
    r = build()
    conv = [mod for mod in r.modules() if isinstance(mod, nn.Conv2d)][0]
    a = conv(x)
    s = a + x
    z = np.maximum(s, 0)
    np.testing.assert_array_equal(y, z.reshape(3, -1))
    gz = g.reshape(z.shape) * (s > 0)
    dx_ref = conv.backward(gz) + gz
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=0)
    mconv = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)][0]
    np.testing.assert_array_equal(mconv.weight.grad, conv.weight.grad)


def test_batchnorm_forward_act_argument(rng):
    x = rng.standard_normal((4, 3, 2, 5)).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    plain, mean, invstd = _C.batchnorm_forward(x, w, b, None, None, True, 0.1, 1e-5)
    fused, mean2, invstd2 = _C.batchnorm_forward(x, w, b, None, None, True, 0.1, 1e-5,
                                                 int(_C.Unary.relu), 0.0)
    np.testing.assert_array_equal(fused, _C.unary_forward(plain, _C.Unary.relu))
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(invstd, invstd2)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="act: a fused activation needs training=True"):
        _C.batchnorm_forward(x, w, b, rm, rv, False, 0.1, 1e-5, int(_C.Unary.relu), 0.0)
    with pytest.raises(ValueError, match="unknown fused activation code 9"):
        _C.batchnorm_forward(x, w, b, rm.copy(), rv.copy(), True, 0.1, 1e-5, 9, 0.0)
    np.testing.assert_array_equal(rm, 0)  # the refused calls updated nothing


@pytest.mark.parametrize("n_inputs", [2, 3, 4])
def test_add_of_several_inputs_with_relu(rng, n_inputs):
    ins = [nn.Input((5,)) for _ in range(n_inputs)]
    add, relu = nn.Add(), nn.ReLU()
    m = nn.Model(ins, relu(add(*ins)))
    calls = _count_forward(relu)
    xs = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n_inputs)]
    y = m(*xs)
    assert not calls  # fused into the sum
    s = xs[0] + xs[1]
    for x in xs[2:]:
        s = s + x
    np.testing.assert_array_equal(y, np.maximum(s, 0))
    np.testing.assert_array_equal(add(*xs), s)  # unfused, the same sum
