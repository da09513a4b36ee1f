"""LRN in and out of ONNX: an ONNX LRN node -> fastnn equal to onnxruntime and to PyTorch;
PyTorch -> ONNX (opsets 11 and 17; the LRN written as an ONNX LRN node by a symbolic, since
torch.onnx traces F.local_response_norm into a shape-dependent If graph) -> fastnn equal to
PyTorch in eval and in training (input gradients); fastnn -> ONNX -> onnxruntime equal and back
bit-identical; the even-size forms refused clearly."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import train_input_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _lrn_model(onnx, size, shape, opset=17, **attrs):
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node("LRN", ["x"], ["y"], size=size, **attrs)
    dims = ["n"] + list(shape[1:])
    g = h.make_graph([node], "lrn", [h.make_tensor_value_info("x", T.FLOAT, dims)],
                     [h.make_tensor_value_info("y", T.FLOAT, dims)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("attrs", [{}, {"alpha": 0.7, "beta": 0.6, "bias": 2.0}])
@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (1, 3, 7, 1), (1, 2, 3, 3)])
def test_onnx_node_matches_onnxruntime(onnx, ort_run, rng, size, attrs, shape):
    m = _lrn_model(onnx, size, shape, **attrs)
    model = fonnx.load(m).eval()
    assert any(isinstance(l, nn.LocalResponseNorm) for l in model.modules())
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 8, 4, 4), (3, 7, 5)])
def test_onnx_attributes_map_to_pytorch(onnx, torch, rng, shape):
    """Also 3-D (N, C, L), which the ONNX operator allows and onnxruntime's kernel refuses."""
    m = _lrn_model(onnx, 5, shape, alpha=0.9, beta=0.8, bias=1.5)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    want = torch.nn.LocalResponseNorm(5, 0.9, 0.8, 1.5)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(fonnx.load(m)(x), want, rtol=1e-5, atol=1e-6)


def test_even_size_refused(onnx):
    with pytest.raises(ValueError, match=r"LRN with an even size \(4\)"):
        fonnx.load(_lrn_model(onnx, 4, (1, 6, 3, 3)))
    with pytest.raises(ValueError, match="LocalResponseNorm with an even size"):
        fonnx.export(nn.Sequential(nn.LocalResponseNorm(2)), io.BytesIO(), input_shape=(3, 4, 4))


def _torch_net(torch, size, alpha, beta, k):
    F = torch.nn.functional

    class LRN(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return F.local_response_norm(x, size, alpha, beta, k)

        @staticmethod
        def symbolic(g, x):
            return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.pool = torch.nn.MaxPool2d(2)
            self.conv2 = torch.nn.Conv2d(8, 4, 3)
            self.lrn = torch.nn.LocalResponseNorm(size, alpha, beta, k)
            self.exporting = False

        def norm(self, x):  # the symbolic only while exporting; PyTorch's own layer otherwise
            return LRN.apply(x) if self.exporting else self.lrn(x)

        def forward(self, x):
            x = self.norm(torch.relu(self.conv(x)))
            return self.norm(self.conv2(self.pool(x)))

    return Net()


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("size", [3, 5])
def test_torch_export_imports(torch, onnx, rng, opset, size):
    torch.manual_seed(0)
    alpha, beta, k = 0.5, 0.75, 1.3
    net = _torch_net(torch, size, alpha, beta, k).eval()
    net.exporting = True
    buf = io.BytesIO()
    torch.onnx.export(net, torch.randn(2, 3, 9, 9), buf, opset_version=opset, dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    net.exporting = False
    proto = onnx.load_from_string(buf.getvalue())
    assert sum(n.op_type == "LRN" for n in proto.graph.node) == 2
    model = fonnx.load(proto)
    assert sum(isinstance(l, nn.LocalResponseNorm) for l in model.modules()) == 2
    model.eval()
    for n in (1, 3):
        x = (rng.standard_normal((n, 3, 9, 9)) * 2).astype(np.float32)
        np.testing.assert_allclose(model(x), net(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    x = (rng.standard_normal((2, 3, 9, 9)) * 2).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_torch_default_export_is_refused_by_name(torch, onnx):
    """torch.onnx (TorchScript) writes LocalResponseNorm as Pad/AveragePool over a 5-D view inside
    a shape-dependent If: not an LRN node. fastnn names what it cannot convert."""
    buf = io.BytesIO()
    torch.onnx.export(torch.nn.LocalResponseNorm(3), torch.randn(1, 4, 3, 3), buf,
                      opset_version=17, dynamo=False)
    with pytest.raises(ValueError, match="If"):
        fonnx.load(buf.getvalue())


@pytest.mark.parametrize("opset", [13, 17])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, opset):
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
                          nn.LocalResponseNorm(5, alpha=0.4, beta=0.75, k=2.0),
                          nn.MaxPool2d(2), nn.LocalResponseNorm(3)).eval()
    path = tmp_path / "lrn.onnx"
    proto = fonnx.export(model, str(path), input_shape=(3, 8, 7), opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert [n.op_type for n in proto.graph.node].count("LRN") == 2
    back = fonnx.load(str(path)).eval()
    for n in (1, 4):
        x = (rng.standard_normal((n, 3, 8, 7)) * 2).astype(np.float32)
        want = model(x)
        (got,) = ort_run(str(path), x)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
        np.testing.assert_array_equal(back(x), want)
    assert fastnn.nn.LocalResponseNorm in {type(m) for m in back.modules()}
