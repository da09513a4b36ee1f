"""ReduceMin / ReduceProd / ReduceSumSquare / ReduceL1 / ReduceL2 / ReduceLogSumExp in and out
of ONNX (nn.Amin / Prod / SumSquare / Norm(1) / Norm(2) / LogSumExp): nodes with axes as an
attribute (opset < 18) or an input (>= 18), keepdims, against onnxruntime; PyTorch -> ONNX
(torch.amin / prod / norm / logsumexp) -> fastnn equal to PyTorch, input gradients in train mode;
fastnn -> ONNX -> onnxruntime and back bit-identical at opsets 13, 17 and 18."""
import io

import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import against_torch, close

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

OPS = {"ReduceMin": nn.Amin, "ReduceProd": nn.Prod, "ReduceSumSquare": nn.SumSquare,
       "ReduceL1": nn.Norm, "ReduceL2": nn.Norm, "ReduceLogSumExp": nn.LogSumExp}


def _graph(onnx, op, axes, keep, opset):
    h, T = onnx.helper, onnx.TensorProto
    inits, names, attrs = [], ["x"], {"keepdims": keep}
    if opset >= 18:
        inits.append(onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        names.append("axes")
    else:
        attrs["axes"] = axes
    g = h.make_graph([h.make_node(op, names, ["y"], **attrs)], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, 4, 5])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("axes,keep", [([1], 1), ([-1, 1], 0), ([2, 3], 1), ([3], 0)])
def test_reduce_nodes_match_onnxruntime(onnx, ort_run, rng, op, opset, axes, keep):
    m = _graph(onnx, op, axes, keep, opset)
    model = fonnx.load(m)
    layer = next(l for l in model.modules() if isinstance(l, OPS[op]))
    if op in ("ReduceL1", "ReduceL2"):
        assert layer.p == int(op[-1])
    for n in (1, 3):
        x = rng.standard_normal((n, 3, 4, 5)).astype(np.float32)
        if op == "ReduceProd":
            x = (np.sign(x) * rng.uniform(0.5, 2.0, x.shape)).astype(np.float32)
        x[0, 0, 0, :2] = -9.0  # a tie at the minimum
        (want,) = ort_run(m.SerializeToString(), x)
        close(model(x), want, f"{op} {axes} batch {n}")


def test_reduce_over_the_batch_is_refused(onnx):
    with pytest.raises(ValueError, match="ReduceL2 over the batch axis"):
        fonnx.load(_graph(onnx, "ReduceL2", [0, 2], 1, 13))
    with pytest.raises(ValueError, match="ReduceLogSumExp axes"):
        fonnx.load(_graph(onnx, "ReduceLogSumExp", [4], 1, 18))


@pytest.mark.parametrize("opset", [11, 17, 18])
def test_torch_reductions(torch, onnx, rng, opset):
    class Net(torch.nn.Module):
        def forward(self, x):
            a = torch.amin(x, dim=(2, 3)) + torch.logsumexp(x, dim=(2, 3))
            b = torch.norm(x, 2, dim=3).sum(2)
            b = b + torch.norm(x, p=1, dim=2, keepdim=True).amax(3).squeeze(2)
            return a + b + torch.prod(x, 3).sum(2) + torch.sum(x * x, 2).mean(2)

    net = Net()
    buf = io.BytesIO()
    torch.onnx.export(net.eval(), torch.randn(2, 3, 4, 5), buf, opset_version=opset, dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    model = fonnx.load(buf.getvalue())
    types = {type(m) for m in model.modules()}
    assert {nn.Amin, nn.LogSumExp, nn.Norm, nn.Prod} <= types
    assert {m.p for m in model.modules() if isinstance(m, nn.Norm)} == {1, 2}
    against_torch(torch, net, model, (3, 4, 5), rng, "reductions")


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, opset):
    inp = nn.Input((3, 4, 5))
    outs = [nn.Amin((1, 3), keepdim=True)(inp), nn.Prod(2)(inp), nn.SumSquare(-1)(inp),
            nn.Norm(1, (2, 3))(inp), nn.Norm(2, 1, keepdim=True)(inp), nn.LogSumExp(3)(inp),
            nn.Sum(2)(inp)]
    model = nn.Model(inp, outs)
    path = str(tmp_path / "red.onnx")
    proto = fonnx.export(model, path, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node if n.op_type != "Identity"]  # (output names)
    assert ops == ["ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2",
                   "ReduceLogSumExp", "ReduceSum"]
    assert all((len(n.input) == 2) == (opset >= (13 if n.op_type == "ReduceSum" else 18))
               for n in proto.graph.node if n.op_type != "Identity")
    back = fonnx.load(path)
    for n in (1, 4):
        x = rng.standard_normal((n, 3, 4, 5)).astype(np.float32)
        want = model(x)
        for got, w in zip(ort_run(path, x), want):
            close(got, w, f"onnxruntime, opset {opset}")
        for got, w in zip(back(x), want):
            np.testing.assert_array_equal(got, w)
