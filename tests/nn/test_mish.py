"""Mish = x * tanh(softplus(x)) (torch.nn.Mish): the kernels against a float64 reference and the
layer against PyTorch, forward and backward, on every ISA path, every tail length, edge values
(large |x|, the 20 cut-over of the SIMD body, zeros, NaN); config, repr and the state-free
state_dict; ONNX Mish (opset 18) from PyTorch and to onnxruntime and back."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import _C, nn
from fastnn import onnx as fonnx
from tests.onnx.conftest import onnx, ort, ort_run  # noqa: F401  (fixtures, by name)
from tests.reference_layers import EPS32, TINY32

SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 101]
# Edge values: both sides of the body's cut-over (20), where exp(x) overflows (88.7) and
# underflows (-87.3, -103.3), large |x| and signed zeros.
EDGES = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, -1.1924, 19.99, 20.0, 20.01, 30.0, 44.0,
                  88.0, 89.0, 100.0, 1e4, 3e38, -10.0, -20.0, -30.0, -87.0, -88.0, -103.0, -104.0,
                  -150.0, -1e4, -3e38], np.float32)


def sweep(rng):
    return np.concatenate([np.linspace(-40, 40, 8001), rng.standard_normal(3000) * 6,
                           EDGES]).astype(np.float32)


def mish64(x):
    """float64 reference: forward and d/dx."""
    x = x.astype(np.float64)
    sp = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    t = np.tanh(sp)
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-x))
    return x * t, t + x * sig * (1.0 - t * t)


def bound(want, scale, ulps=8):
    """|error| allowed: a few float32 roundings of the value's magnitude (scale: the magnitude of
    the terms that round, e.g. |g| (1 + |x|) for the gradient), and float32's normal range."""
    return ulps * EPS32 * np.maximum(np.abs(want), scale) + TINY32


def test_forward_and_backward_match_float64(isa, rng):
    x = sweep(rng)
    g = rng.standard_normal(x.size).astype(np.float32)
    y = _C.unary_forward(x, _C.Unary.mish)
    want, slope = mish64(x)
    assert np.all(np.abs(y - want) <= bound(want, 0.0)), np.max(np.abs(y - want) / bound(want, 0))
    assert _C.unary_backward_needs_input(_C.Unary.mish)
    dx = _C.unary_backward(x, y, g, _C.Unary.mish)
    dwant = g.astype(np.float64) * slope
    # the slope's two terms, tanh(sp) and x sigmoid(x) sech^2(sp), are each at most 1 in size
    scale = 2.0 * np.abs(g)
    assert np.all(np.abs(dx - dwant) <= bound(dwant, scale)), "backward"


def test_nan_propagates(isa):
    x = np.array([np.nan, 1.0, np.nan], np.float32)
    y = _C.unary_forward(x, _C.Unary.mish)
    assert np.isnan(y[[0, 2]]).all() and np.isfinite(y[1])
    dx = _C.unary_backward(x, y, np.ones(3, np.float32), _C.Unary.mish)
    assert np.isnan(dx[[0, 2]]).all() and np.isfinite(dx[1])


@pytest.mark.parametrize("n", SIZES)
def test_every_tail_length_equals_the_long_run(isa, rng, n):
    """A length-n call equals the same elements inside a long call (masked tails, blocks)."""
    x = (rng.standard_normal(n) * 8).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    big = np.concatenate([x, x, x])
    np.testing.assert_array_equal(_C.unary_forward(x, _C.Unary.mish),
                                  _C.unary_forward(big, _C.Unary.mish)[n:2 * n])
    y = _C.unary_forward(x, _C.Unary.mish)
    np.testing.assert_array_equal(
        _C.unary_backward(x, y, g, _C.Unary.mish),
        _C.unary_backward(big, np.tile(y, 3), np.tile(g, 3), _C.Unary.mish)[n:2 * n])


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 17), (2, 3, 5, 5), (64, 130)])
def test_layer_matches_torch(isa, torch, rng, shape):
    x = (rng.standard_normal(shape) * 6).astype(np.float32)
    x.flat[: min(x.size, EDGES.size)] = EDGES[: min(x.size, EDGES.size)]
    g = rng.standard_normal(shape).astype(np.float32)
    ours, theirs = nn.Mish(), torch.nn.Mish()
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    y = ours(x)
    want = yt.detach().numpy()
    assert y.shape == want.shape and y.dtype == np.float32
    # both sides round: twice the float64 bound
    assert np.all(np.abs(y - want) <= 2 * bound(want, 0.0)), "forward"
    dx = ours.backward(g)
    dwant = xt.grad.numpy()
    scale = 2.0 * np.abs(g)
    assert np.all(np.abs(dx - dwant) <= 2 * bound(dwant, scale)), "backward"


def test_layer_config_repr_and_state():
    m = nn.Mish()
    assert repr(m) == "Mish()" and m.get_config() == {}
    assert m.state_dict() == {} and list(m.parameters()) == []
    assert "Mish" in nn.__all__ and nn.Mish is fastnn.nn.activation.Mish
    with pytest.raises(ValueError, match="before forward"):
        nn.Mish().backward(np.ones(3, np.float32))


def test_in_a_trained_sequential(torch, rng):
    """Inside a Sequential after a Linear (not fusable: Mish is no GEMM epilogue): input and
    weight gradients as PyTorch's."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Mish(), torch.nn.Linear(5, 3))
    model = nn.Sequential(nn.Linear(6, 5), nn.Mish(), nn.Linear(5, 3))
    model.load_state_dict({k: v.detach().numpy() for k, v in net.state_dict().items()})
    x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    net(xt).backward(torch.tensor(g))
    model.train()
    model(x)
    dx = model.backward(g)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-5 * np.abs(dx).max())
    np.testing.assert_allclose(model[0].weight.grad, net[0].weight.grad.numpy(), rtol=1e-5,
                               atol=1e-5 * np.abs(model[0].weight.grad).max())


def test_onnx_mish_node_imports_as_mish(torch, onnx, ort_run, rng):
    """A Mish node (opset 18; PyTorch's exporter writes x * Tanh(Softplus(x)) instead) becomes
    nn.Mish, equal to PyTorch and onnxruntime."""
    h = onnx.helper
    graph = h.make_graph([h.make_node("Mish", ["x"], ["y"])], "mish",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 7])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 7])])
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
    onnx.checker.check_model(proto, full_check=True)
    model = fonnx.load(proto.SerializeToString()).eval()
    assert nn.Mish in {type(m) for m in model.modules()}
    x = (rng.standard_normal((5, 7)) * 6).astype(np.float32)
    x[0] = EDGES[:7]
    want = torch.nn.Mish()(torch.tensor(x)).numpy()
    assert np.all(np.abs(model(x) - want) <= 2 * bound(want, 0.0))
    (got,) = ort_run(proto.SerializeToString(), x)
    np.testing.assert_allclose(model(x), got, rtol=1e-5, atol=1e-6)


def test_onnx_import_of_torch_export(torch, onnx, rng):
    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Mish(), torch.nn.Linear(8, 4))
    buf = io.BytesIO()
    torch.onnx.export(net.eval(), torch.randn(2, 8), buf, opset_version=18, dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    model = fonnx.load(buf.getvalue()).eval()
    x = (rng.standard_normal((5, 8)) * 3).astype(np.float32)
    want = net(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_onnx_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng):
    model = nn.Sequential(nn.Linear(6, 6), nn.Mish(), nn.Linear(6, 3)).eval()
    path = tmp_path / "m.onnx"
    proto = fonnx.export(model, str(path), input_shape=(6,), opset=18)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert "Mish" in {n.op_type for n in proto.graph.node}
    x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
    want = model(x)
    (got,) = ort_run(str(path), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    np.testing.assert_array_equal(fonnx.load(str(path)).eval()(x), want)
    with pytest.raises(ValueError, match="Mish, which needs opset >= 18, got opset 17"):
        fonnx.export(model, None, input_shape=(6,), opset=17)
