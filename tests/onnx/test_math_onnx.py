"""BatchNorm3d, InstanceNormalization, Exp/Log/Sqrt/Pow/Max/Min on graph tensors and Tile:
PyTorch -> ONNX (opsets 11 and 17; torch writes repeat() with a dynamic batch as Expand + Tile, so
Tile is checked node by node and in the conformance table) -> fastnn equal to PyTorch in eval mode at two batch sizes and
in training (outputs, running statistics, input gradients); ONNX nodes against onnxruntime; what
cannot be converted is refused by name."""
import io

import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import against_torch, close, train_input_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _export(torch, net, shape, opset):
    buf = io.BytesIO()
    torch.onnx.export(net.eval(), torch.zeros((2,) + shape), buf, opset_version=opset,
                      dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    return buf.getvalue()


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_bn3d_exp_max(torch, onnx, rng, opset):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm3d(3)

        def forward(self, x):
            h = self.bn(x)
            return torch.maximum(torch.exp(0.3 * h), h)

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2)
        net.bn.weight.uniform_(0.5, 1.5)
    model = fonnx.load(_export(torch, net, (3, 2, 4, 5), opset))
    kinds = {type(m) for m in model.modules()}
    assert {nn.BatchNorm3d, nn.Exp, nn.Maximum} <= kinds
    against_torch(torch, net, model, (3, 2, 4, 5), rng, f"opset {opset}")


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_instance_norm_sqrt_pow_min_log(torch, onnx, rng, opset):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.InstanceNorm2d(4, affine=True)

        def forward(self, x):
            h = self.norm(x)
            s = torch.sqrt(h * h + 1.0)
            return torch.log(torch.minimum(torch.pow(s, torch.tanh(h)), s + h * h))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.norm.weight.uniform_(0.5, 1.5)
        net.norm.bias.uniform_(-0.5, 0.5)
    model = fonnx.load(_export(torch, net, (4, 5, 6), opset))
    kinds = {type(m) for m in model.modules()}
    assert {nn.InstanceNorm2d, nn.Sqrt, nn.Pow, nn.Minimum, nn.Log} <= kinds
    model.eval()
    for n in (1, 5):
        x = rng.standard_normal((n, 4, 5, 6)).astype(np.float32)
        close(model(x), net.eval()(torch.tensor(x)).detach().numpy(), f"batch {n}")
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, "input gradient")
    (norm,) = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
    close(norm.weight.grad, net.norm.weight.grad.numpy(), "weight gradient")


def _node_model(onnx, op, shapes, out_shape, consts=(), **attrs):
    h = onnx.helper
    names = [f"x{i}" for i in range(len(shapes))]
    inputs = [h.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["n"] + list(s[1:]))
              for n, s in zip(names, shapes)]
    inits = [onnx.numpy_helper.from_array(v, f"c{i}") for i, v in enumerate(consts)]
    node = h.make_node(op, names + [t.name for t in inits], ["y"], **attrs)
    out = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    graph = h.make_graph([node], "g", inputs, [out], initializer=inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()


def test_nodes_against_onnxruntime(onnx, ort_run, rng):
    x = rng.uniform(0.5, 2, (2, 3, 4)).astype(np.float32)
    x2 = rng.uniform(0.5, 2, (2, 3, 4)).astype(np.float32)
    x3 = rng.uniform(0.5, 2, (2, 1, 4)).astype(np.float32)
    cases = [("Exp", [x], ()), ("Log", [x], ()), ("Sqrt", [x], ()), ("Pow", [x, x2], ()),
             ("Max", [x, x2, x3], ()), ("Min", [x, x3], ()), ("Max", [x], ()),
             ("Tile", [x], (np.array([1, 2, 3], np.int64),)),
             ("InstanceNormalization", [x], (rng.uniform(0.5, 2, 3).astype(np.float32),
                                             rng.standard_normal(3).astype(np.float32)))]
    for op, xs, consts in cases:
        m = _node_model(onnx, op, [a.shape for a in xs], None, consts)
        (want,) = ort_run(m, *xs)
        close(fonnx.load(m).eval()(*xs), want, op)


def test_flatten_keeps_the_batch_or_refuses(onnx, ort_run, rng):
    """ONNX Flatten's output is 2-D, (prod(shape[:axis]), prod(shape[axis:])): axis 1 (or -rank
    + 1) keeps the batch; a 1-D input with axis 1 is (N, 1); any other axis merges the batch."""
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for axis, xs in [(1, x), (-2, x), (1, x[:, 0, 0])]:
        m = _node_model(onnx, "Flatten", [xs.shape], None, axis=axis)
        (want,) = ort_run(m, xs)
        got = fonnx.load(m).eval()(xs)
        assert got.shape == want.shape and np.array_equal(got, want), (axis, xs.shape)
    for axis in (0, 2, -1, 3):
        m = _node_model(onnx, "Flatten", [x.shape], None, axis=axis)
        with pytest.raises(ValueError, match=rf"Flatten\(axis={axis}\) merges the batch"):
            fonnx.load(m)


def test_refused_with_names(onnx, rng):
    x = np.zeros((2, 3, 4), np.float32)
    m = _node_model(onnx, "Tile", [x.shape], None, (np.array([2, 1, 1], np.int64),))
    with pytest.raises(ValueError, match=r"Tile along the batch axis"):
        fonnx.load(m)
    m = _node_model(onnx, "InstanceNormalization", [(2, 3)], None,
                    (np.ones(3, np.float32), np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"InstanceNormalization on a 2-D input"):
        fonnx.load(m)
    # operators fastnn lacks are still listed all at once, with their nodes
    h = onnx.helper
    nodes = [h.make_node("Exp", ["x"], ["a"]), h.make_node("Erf", ["a"], ["b"], name="e1"),
             h.make_node("Cosh", ["b"], ["y"], name="c1")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", 1, ["n", 3])],
                         [h.make_tensor_value_info("y", 1, None)])
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString()
    with pytest.raises(ValueError, match=r"unsupported operator\(s\) Cosh, Erf; nodes: e1 \(Erf\), "
                                         r"c1 \(Cosh\)"):
        fonnx.load(m)
