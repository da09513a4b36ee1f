"""1-D layers, BatchNorm1d on (N, C, L) and global max pooling in and out of ONNX.
PyTorch -> ONNX (TorchScript exporter, opsets 11 and 17) -> fastnn for small 1-D CNNs (Conv1d,
BatchNorm1d, ReLU, MaxPool1d, AvgPool1d, Flatten, Linear; padding='same', reflect padding):
eval outputs equal at two batch sizes, train-mode outputs, running statistics and input gradients
equal; hand-written 1-D Conv / MaxPool / AveragePool / Pad nodes (asymmetric pads, auto_pad,
groups, dilations, ceil_mode, count_include_pad), GlobalMaxPool and 3-D BatchNormalization equal
to onnxruntime; fastnn -> ONNX -> onnxruntime equal and -> fastnn bit-identical; the forms fastnn
cannot convert refused by name."""

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import close, train_input_gradients
from tests.onnx.test_import_torch import _export, _randomize_bn, check_eval_export

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore:Converting a tensor to a Python boolean")


def _torch_nets(torch):
    tnn = torch.nn

    class CNN1d(tnn.Module):
        def __init__(self):
            super().__init__()
            self.f = tnn.Sequential(
                tnn.Conv1d(3, 8, 5, padding=2), tnn.BatchNorm1d(8), tnn.ReLU(),
                tnn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
                tnn.Conv1d(8, 8, 3, stride=2, padding=1, groups=2, bias=False),
                tnn.BatchNorm1d(8), tnn.ReLU(),
                tnn.AvgPool1d(3, 1, 1),  # count_include_pad: opset 11 writes a Pad first
                tnn.AvgPool1d(2, count_include_pad=False, ceil_mode=True),
                tnn.Flatten(), tnn.Linear(8 * 4, 5))

        def forward(self, x):
            return self.f(x)

    class Same(tnn.Module):
        """padding='same' with an even kernel (asymmetric pads) and reflect padding (a Pad
        node), global max pooling over a 2-D view."""

        def __init__(self):
            super().__init__()
            self.a = tnn.Conv1d(2, 6, 4, padding="same")
            self.b = tnn.Conv1d(6, 4, 3, padding=2, padding_mode="reflect", dilation=2)
            self.bn = tnn.BatchNorm1d(4)
            self.pool = tnn.AdaptiveMaxPool2d(1)
            self.fc = tnn.Linear(4, 3)

        def forward(self, x):
            y = torch.relu(self.bn(self.b(torch.relu(self.a(x)))))
            return self.fc(torch.flatten(self.pool(y.unsqueeze(2)), 1))

    class GlobalPools(tnn.Module):
        """AdaptiveAvgPool1d(1): GlobalAveragePool on an (N, C, L) tensor (AdaptiveMaxPool1d(1)
        PyTorch writes as a MaxPool over the whole length)."""

        def __init__(self):
            super().__init__()
            self.c, self.bn = tnn.Conv1d(3, 6, 3, padding=1), tnn.BatchNorm1d(6)
            self.avg, self.max = tnn.AdaptiveAvgPool1d(1), tnn.AdaptiveMaxPool1d(1)
            self.fc = tnn.Linear(12, 2)

        def forward(self, x):
            y = torch.relu(self.bn(self.c(x)))
            return self.fc(torch.flatten(torch.cat([self.avg(y), self.max(y)], 1), 1))

    return {"cnn1d": (CNN1d, (3, 29)), "same": (Same, (2, 11)), "global": (GlobalPools, (3, 9))}


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", ["cnn1d", "same", "global"])
def test_torch_1d_cnn_imports(torch, onnx, rng, name, opset):
    torch.manual_seed(0)
    cls, shape = _torch_nets(torch)[name]
    net = cls()
    _randomize_bn(torch, net, 3)
    model = fonnx.load(_export(torch, net, shape, opset))
    assert sum(p.size for p in model.parameters()) == sum(p.numel() for p in net.parameters())
    kinds = {type(m) for m in model.modules()}
    assert {nn.Conv1d, nn.BatchNorm1d} <= kinds
    assert {"cnn1d": {nn.MaxPool1d, nn.AvgPool1d}, "same": {nn.GlobalMaxPool2d},
            "global": {nn.AdaptiveAvgPool1d, nn.MaxPool1d}}[name] <= kinds
    net.eval()
    model.eval()
    for n in (1, 4):  # two batch sizes, neither the one exported with
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"{name} eval, batch {n}")
    x = rng.standard_normal((6,) + shape).astype(np.float32)
    net.train()
    model.train()
    close(model(x), net(torch.tensor(x)).detach().numpy(), f"{name} train-mode output")
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, f"{name} input gradient")
    # the running statistics moved as PyTorch's did (compared as one sorted set: order-free)
    ours = [m.running_var for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    theirs = [m.running_var.numpy() for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(ours) == len(theirs)
    close(np.sort(np.concatenate(ours)), np.sort(np.concatenate(theirs)), "running_var")


def test_eval_export_with_folded_bn(torch, onnx, rng):
    torch.manual_seed(1)
    cls, shape = _torch_nets(torch)["cnn1d"]
    net = cls()
    _randomize_bn(torch, net, 4)
    net.eval()
    check_eval_export(torch, net, shape, rng)


def _model(onnx, nodes, in_shape, inits=(), opset=17):
    h = onnx.helper
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                           ["N"] + list(in_shape[1:]))],
                     [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                     [onnx.numpy_helper.from_array(v, k) for k, v in inits])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m


CONV_ATTRS = [dict(pads=[1, 2]), dict(pads=[2, 0], strides=[2]), dict(auto_pad="SAME_UPPER"),
              dict(auto_pad="SAME_LOWER", strides=[2]), dict(auto_pad="VALID"),
              dict(group=2, pads=[1, 1], dilations=[3]), dict(strides=[4])]


@pytest.mark.parametrize("attrs", CONV_ATTRS, ids=str)
@pytest.mark.parametrize("length", [1, 7, 12])
def test_conv1d_node_matches_onnxruntime(onnx, ort_run, rng, attrs, length):
    g = attrs.get("group", 1)
    w = rng.standard_normal((6, 4 // g, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    node = onnx.helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    span = attrs.get("dilations", [1])[0] * 2 + 1
    if length + sum(attrs.get("pads", [0, 0])) < span and "SAME" not in attrs.get("auto_pad", ""):
        length += span  # a window must fit
    m = _model(onnx, [node], (1, 4, length), [("w", w), ("b", b)])
    model = fonnx.load(m).eval()
    assert any(isinstance(layer, nn.Conv1d) for layer in model.modules())
    x = rng.standard_normal((2, 4, length)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    close(model(x), want, f"Conv {attrs}")


POOL_CASES = [
    ("MaxPool", dict(kernel_shape=[3], pads=[1, 1], strides=[2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2], pads=[0, 1], strides=[2])),
    ("MaxPool", dict(kernel_shape=[3], dilations=[2], pads=[2, 2], strides=[1])),
    ("MaxPool", dict(kernel_shape=[2], auto_pad="SAME_UPPER", strides=[2])),
    ("AveragePool", dict(kernel_shape=[3], pads=[1, 1], strides=[2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3], pads=[1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3], pads=[0, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[4], strides=[3])),
]


@pytest.mark.parametrize("op,attrs", POOL_CASES, ids=str)
def test_pool1d_node_matches_onnxruntime(onnx, ort_run, rng, op, attrs):
    m = _model(onnx, [onnx.helper.make_node(op, ["x"], ["y"], **attrs)], (1, 3, 11))
    model = fonnx.load(m).eval()
    assert any(isinstance(layer, (nn.MaxPool1d, nn.AvgPool1d)) for layer in model.modules())
    x = rng.standard_normal((2, 3, 11)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    close(model(x), want, f"{op} {attrs}")


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_3d_node_matches_onnxruntime(onnx, ort_run, rng, mode):
    pads = np.array([0, 0, 2, 0, 0, 1], np.int64)
    ins = ["x", "p"] + (["v"] if mode == "constant" else [])
    inits = [("p", pads)] + ([("v", np.array(0.7, np.float32))] if mode == "constant" else [])
    m = _model(onnx, [onnx.helper.make_node("Pad", ins, ["y"], mode=mode)], (1, 3, 5), inits)
    model = fonnx.load(m).eval()
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_array_equal(model(x), want)


def test_global_max_and_3d_batchnorm_match_onnxruntime(onnx, ort_run, rng):
    c = 4
    bn = [("s", rng.uniform(0.5, 2, c)), ("b", rng.standard_normal(c)),
          ("m", rng.standard_normal(c) * 0.3), ("v", rng.uniform(0.5, 2, c))]
    bn = [(k, v.astype(np.float32)) for k, v in bn]
    h = onnx.helper
    m = _model(onnx, [h.make_node("GlobalMaxPool", ["x"], ["g"]),
                      h.make_node("Reshape", ["g", "shape"], ["r"]),
                      h.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["y"],
                                  epsilon=1e-3)],
               (1, c, 5, 6), bn + [("shape", np.array([0, c, 1], np.int64))])
    model = fonnx.load(m).eval()
    kinds = {type(layer) for layer in model.modules()}
    assert {nn.GlobalMaxPool2d, nn.BatchNorm1d} <= kinds
    x = rng.standard_normal((3, c, 5, 6)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    close(model(x), want, "GlobalMaxPool + 3-D BatchNormalization")


@pytest.mark.parametrize("op", ["GlobalMaxPool", "GlobalAveragePool"])
@pytest.mark.parametrize("length", [1, 6])
def test_global_pools_3d_match_onnxruntime(onnx, ort_run, rng, op, length):
    m = _model(onnx, [onnx.helper.make_node(op, ["x"], ["y"])], (1, 3, length))
    model = fonnx.load(m).eval()
    want_cls = nn.AdaptiveMaxPool1d if op == "GlobalMaxPool" else nn.AdaptiveAvgPool1d
    assert any(isinstance(layer, want_cls) for layer in model.modules())
    x = rng.standard_normal((2, 3, length)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    close(model(x), want, op)


def _fastnn_net():
    fastnn.manual_seed(5)
    return nn.Sequential(
        nn.ReflectionPad1d((1, 2)), nn.Conv1d(3, 8, 4, padding="same"), nn.BatchNorm1d(8),
        nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1, padding_mode="reflect", groups=4),
        nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
        nn.Conv1d(8, 6, 3, padding=2, padding_mode="replicate", dilation=2),
        nn.ConstantPad1d((0, 1), 0.25), nn.ZeroPad1d(1), nn.ReplicationPad1d((2, 0)),
        nn.AvgPool1d(3, 2, 1, count_include_pad=False), nn.AvgPool1d(2, ceil_mode=True),
        nn.Flatten(), nn.Linear(24, 4))


def _fastnn_graph():
    """Both 1-D global pools side by side in a graph model."""
    fastnn.manual_seed(6)
    x = nn.Input((3, 10))
    c = nn.Conv1d(3, 4, 3)(x)
    y = nn.Concat(1)(nn.AdaptiveAvgPool1d(1)(c), nn.AdaptiveMaxPool1d(1)(c))
    return nn.Model(x, nn.Linear(8, 2)(nn.Flatten()(y)))


@pytest.mark.parametrize("opset", [13, 17])
def test_fastnn_export_runs_in_onnxruntime_and_round_trips(onnx, ort_run, tmp_path, rng, opset):
    model = _fastnn_net()
    bn = model[2]
    bn.running_mean[...] = rng.standard_normal(8) * 0.2
    bn.running_var[...] = rng.uniform(0.5, 2, 8)
    model.eval()
    path = tmp_path / "seq.onnx"
    fonnx.export(model, str(path), input_shape=(3, 15), opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    back = fonnx.load(str(path)).eval()
    for n in (1, 5):
        x = rng.standard_normal((n, 3, 15)).astype(np.float32)
        want = model(x)
        (got,) = ort_run(str(path), x)
        close(got, want, f"onnxruntime, batch {n}")
        np.testing.assert_array_equal(back(x), want)


def test_fastnn_graph_1d_global_pools_export(onnx, ort_run, tmp_path, rng):
    model = _fastnn_graph()
    path = tmp_path / "g1.onnx"
    proto = fonnx.export(model, str(path))
    assert {"GlobalAveragePool", "GlobalMaxPool"} <= {n.op_type for n in proto.graph.node}
    x = rng.standard_normal((3, 3, 10)).astype(np.float32)
    (got,) = ort_run(str(path), x)
    close(got, model(x), "1-D global pools")
    np.testing.assert_array_equal(fonnx.load(str(path))(x), model(x))


def test_fastnn_global_pools_export(onnx, ort_run, tmp_path, rng):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.AdaptiveMaxPool2d(1), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten()).eval()
    graph_in = nn.Input((2, 7, 6))
    c = nn.Conv2d(2, 4, 3)(graph_in)
    graph = nn.Model(graph_in, nn.Add()(nn.GlobalMaxPool2d()(c), nn.GlobalAvgPool2d()(c)))
    for m in (model, graph):
        path = tmp_path / "g.onnx"
        fonnx.export(m, str(path), input_shape=(2, 7, 6))
        x = rng.standard_normal((3, 2, 7, 6)).astype(np.float32)
        (got,) = ort_run(str(path), x)
        want = m(x)
        close(got, want, "global pools")
        np.testing.assert_array_equal(fonnx.load(str(path))(x), want)


def test_unconvertible_forms_refused_by_name(onnx):
    h = onnx.helper
    cases = [
        (h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2], pads=[0, 1], ceil_mode=1),
         (1, 3, 8), [], r"MaxPool with asymmetric pads \(0, 1\) and ceil_mode=1"),
        (h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3], pads=[0, 1]),
         (1, 3, 8), [], r"AveragePool with asymmetric pads \(0, 1\) and count_include_pad=0"),
        (h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3], dilations=[2]),
         (1, 3, 8), [], "dilated AveragePool"),
        (h.make_node("GlobalMaxPool", ["x"], ["y"]), (1, 3, 4, 4, 4), [],
         r"GlobalMaxPool on a 5-D input"),
        (h.make_node("Conv", ["x", "w"], ["y"]), (1, 2, 4, 4, 4),
         [("w", np.ones((3, 2, 2, 2, 2), np.float32))], r"3-D Conv \(fastnn has Conv1d and "
                                                        r"Conv2d\)"),
        (h.make_node("Pad", ["x", "p"], ["y"]), (1, 3, 8), [("p", np.array([0, 1, 0, 0, 0, 0]))],
         r"Pad of a 3-D tensor with pads \[0, 1, 0, 0, 0, 0\]"),
    ]
    for node, shape, inits, match in cases:
        with pytest.raises(ValueError, match=match):
            fonnx.load(_model(onnx, [node], shape, inits))
