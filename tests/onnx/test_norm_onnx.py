"""LayerNorm, Embedding and the reductions in and out of ONNX: PyTorch -> ONNX (opsets 11 and
17: LayerNorm written out as ReduceMean/Sub/Pow/.../Add at 11, LayerNormalization at 17) ->
fastnn equal to PyTorch in eval mode at two batch sizes, and in training (input gradients where
the input is float, the Embedding's weight gradient where it is not); ONNX nodes (LayerNormalization
over two axes, ReduceMean/ReduceSum/ReduceMax with axes as attribute or input, keepdims,
noop_with_empty_axes) against onnxruntime; fastnn -> ONNX -> onnxruntime and back bit-identical;
what cannot be converted is refused by name."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import close, train_input_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _export(torch, net, x, opset, name="x"):
    buf = io.BytesIO()
    torch.onnx.export(net.eval(), x, buf, opset_version=opset, dynamo=False, input_names=[name],
                      dynamic_axes={name: {0: "n"}})
    return buf.getvalue()


def _token_net(torch):
    class Net(torch.nn.Module):  # Embedding -> LayerNorm -> mean over the sequence -> Linear
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(20, 16)
            self.ln = torch.nn.LayerNorm(16)
            self.fc = torch.nn.Linear(16, 5)

        def forward(self, x):
            return self.fc(self.ln(self.emb(x)).mean(1))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.ln.weight.uniform_(0.5, 1.5)
        net.ln.bias.uniform_(-0.5, 0.5)
    return net


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_token_model(torch, onnx, rng, opset):
    net = _token_net(torch)
    data = _export(torch, net, torch.zeros(2, 7, dtype=torch.long), opset)
    model = fonnx.load(data)
    kinds = {type(m) for m in model.modules()}
    assert {nn.Embedding, nn.LayerNorm, nn.Mean} <= kinds
    model.eval()
    for n in (1, 5):
        x = rng.integers(0, 20, (n, 7))
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"batch {n}")
    # training: the Embedding's weight gradient equals PyTorch's (the input is integer)
    x = rng.integers(0, 20, (4, 7))
    model.train()
    net.train().zero_grad()
    y = model(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    net(torch.tensor(x)).backward(torch.tensor(g))
    model.zero_grad()
    assert model.backward(g) is None
    emb = next(m for m in model.modules() if isinstance(m, nn.Embedding))
    ln = next(m for m in model.modules() if isinstance(m, nn.LayerNorm))
    close(emb.weight.grad, net.emb.weight.grad.numpy(), "embedding weight gradient")
    close(ln.weight.grad, net.ln.weight.grad.numpy(), "layernorm weight gradient")


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_mlp_with_layernorm(torch, onnx, rng, opset):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.LayerNorm(32), torch.nn.GELU(),
                              torch.nn.Linear(32, 16),
                              torch.nn.LayerNorm(16, eps=1e-3, bias=False),
                              torch.nn.ReLU(), torch.nn.Linear(16, 8),
                              torch.nn.LayerNorm(8, elementwise_affine=False), torch.nn.Tanh(),
                              torch.nn.Linear(8, 3))
    proto = onnx.load_from_string(_export(torch, net, torch.randn(2, 10), opset))
    ops = {n.op_type for n in proto.graph.node}
    assert ("LayerNormalization" in ops) == (opset >= 17)
    model = fonnx.load(proto)
    lns = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    # at 17 torch writes a constant Scale (ones) and B (zeros) where the layer has none
    want = [(True, True)] * 3 if opset >= 17 else [(True, True), (True, False), (False, False)]
    assert [(m.weight is not None, m.bias is not None) for m in lns] == want
    model.eval()
    for n in (1, 6):
        x = rng.standard_normal((n, 10)).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"batch {n}")
    x = rng.standard_normal((4, 10)).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, "train-mode input gradient")


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_reductions(torch, onnx, rng, opset):
    class Net(torch.nn.Module):
        def forward(self, x):
            a = x.mean((2, 3))
            b = x.sum(-1, keepdim=True).amax(2)
            return a + b.squeeze(-1) + torch.amax(x, dim=(1, 3)).sum(1, keepdim=True)

    net = Net()
    model = fonnx.load(_export(torch, net, torch.randn(2, 3, 4, 5), opset)).eval()
    assert {nn.Mean, nn.Sum, nn.Amax} <= {type(m) for m in model.modules()}
    for n in (1, 3):
        x = rng.standard_normal((n, 3, 4, 5)).astype(np.float32)
        close(model(x), net(torch.tensor(x)).numpy(), f"batch {n}")
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, "train-mode input gradient")


def _graph(onnx, op, attrs, x_shape, opset, extra_inits=(), extra_inputs=()):
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node(op, ["x", *extra_inputs], ["y"], **attrs)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", *x_shape[1:]])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], list(extra_inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax"])
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes,keep", [([1], 1), ([-1, 1], 0), ([2, 3], 1), ([3], 0)])
def test_reduce_nodes_match_onnxruntime(onnx, ort_run, rng, op, opset, axes, keep):
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    inits = [onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes")] if as_input else []
    attrs = {"keepdims": keep} if as_input else {"keepdims": keep, "axes": axes}
    m = _graph(onnx, op, attrs, (2, 3, 4, 5), opset, inits, ["axes"] if as_input else [])
    model = fonnx.load(m)
    for n in (1, 3):
        x = rng.standard_normal((n, 3, 4, 5)).astype(np.float32)
        x[0, 0, 0, :2] = 9.0  # a tie at the maximum
        (want,) = ort_run(m.SerializeToString(), x)
        close(model(x), want, f"{op} {axes} batch {n}")


def test_reduce_empty_axes(onnx, ort_run, rng):
    T = onnx.TensorProto
    m = _graph(onnx, "ReduceSum", {"noop_with_empty_axes": 1}, (2, 3), 13)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(fonnx.load(m)(x), ort_run(m.SerializeToString(), x)[0])
    with pytest.raises(ValueError, match=r"ReduceSum over all axes \(the batch axis too\)"):
        fonnx.load(_graph(onnx, "ReduceSum", {}, (2, 3), 13))
    with pytest.raises(ValueError, match="ReduceMean over the batch axis"):
        fonnx.load(_graph(onnx, "ReduceMean", {"axes": [0, 1]}, (2, 3), 11))
    del T


@pytest.mark.parametrize("axis,bias", [(-1, True), (-2, True), (2, False), (1, True)])
def test_layernormalization_node(onnx, ort_run, rng, axis, bias):
    shape = (2, 3, 4, 5)
    ns = shape[axis:] if axis < 0 else shape[axis:]
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(ns).astype(np.float32), "scale")]
    names = ["scale"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal(ns).astype(np.float32),
                                                  "bias"))
        names.append("bias")
    m = _graph(onnx, "LayerNormalization", {"axis": axis, "epsilon": 1e-3}, shape, 17, inits,
               names)
    model = fonnx.load(m)
    layer = next(l for l in model.modules() if isinstance(l, nn.LayerNorm))
    assert layer.normalized_shape == ns and (layer.bias is not None) == bias
    x = (3 + rng.standard_normal(shape)).astype(np.float32)
    close(model(x), ort_run(m.SerializeToString(), x)[0], f"axis {axis}")


def test_gather_not_on_a_table_is_refused(onnx):
    h, T = onnx.helper, onnx.TensorProto
    idx = onnx.numpy_helper.from_array(np.array([0, 2], np.int64), "idx")
    node = h.make_node("Gather", ["x", "idx"], ["y"], axis=1)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [idx])
    with pytest.raises(ValueError, match="Gather other than a constant table"):
        fonnx.load(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]))
    node = h.make_node("Relu", ["i"], ["y"])
    g = h.make_graph([node], "g", [h.make_tensor_value_info("i", T.INT64, ["n", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    with pytest.raises(ValueError, match=r"integer input\(s\) \['i'\] feed node #0 \(Relu\)"):
        fonnx.load(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]))


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, opset):
    inp = nn.Input((6, 8))
    h = nn.LayerNorm(8)(inp)
    h = nn.LayerNorm((6, 8), elementwise_affine=False)(nn.ReLU()(h))
    a = nn.Mean(1)(h)
    b = nn.Amax((1, 2), keepdim=True)(h)
    out = nn.Add()(a, nn.Flatten()(nn.Sum(2, keepdim=True)(nn.Reshape((8, 6))(h))))
    model = nn.Model(inp, [out, b])
    for layer in model.modules():
        if isinstance(layer, nn.LayerNorm) and layer.weight is not None:
            layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
            layer.bias.data[...] = rng.uniform(-1, 1, layer.bias.shape)
    path = str(tmp_path / "ln.onnx")
    proto = fonnx.export(model, path, opset=opset)
    ops = [n.op_type for n in proto.graph.node]
    assert ("LayerNormalization" in ops) == (opset >= 17)
    back = fonnx.load(path)
    assert sum(isinstance(m, nn.LayerNorm) for m in back.modules()) == 2
    for n in (1, 4):
        x = (2 + rng.standard_normal((n, 6, 8))).astype(np.float32)
        want = model(x)
        for got, w in zip(ort_run(path, x), want):
            close(got, w, f"onnxruntime, opset {opset}")
        for got, w in zip(back(x), want):
            np.testing.assert_array_equal(got, w)


def test_export_embedding_model(onnx, ort_run, tmp_path, rng):
    model = nn.Sequential(nn.Embedding(30, 8, padding_idx=0), nn.LayerNorm(8), nn.Mean(1),
                          nn.Linear(8, 4))
    path = str(tmp_path / "emb.onnx")
    proto = fonnx.export(model, path, input_shape=(5,))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    back = fonnx.load(path)
    x = rng.integers(0, 30, (3, 5))
    (got,) = ort_run(path, x)
    close(got, model(x), "onnxruntime")
    np.testing.assert_array_equal(back(x), model(x))
    assert fastnn.nn.Embedding in {type(m) for m in back.modules()}
    # a graph Model: its index input int64, a float input beside it stays float
    tokens, feats = nn.Input((5,), name="tokens"), nn.Input((3,), name="feats")
    h = nn.Mean(1)(nn.Embedding(30, 4)(tokens))
    graph = nn.Model([tokens, feats], nn.Linear(7, 2)(nn.Concat(1)(h, feats)))
    path = str(tmp_path / "emb_graph.onnx")
    proto = fonnx.export(graph, path)
    types = [i.type.tensor_type.elem_type for i in proto.graph.input]
    assert types == [onnx.TensorProto.INT64, onnx.TensorProto.FLOAT]
    f = rng.standard_normal((3, 3)).astype(np.float32)
    (got,) = ort_run(path, x, f)
    close(got, graph(x, f), "onnxruntime, graph model")
    np.testing.assert_array_equal(fonnx.load(path)(x, f), graph(x, f))


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_layernorm_over_two_axes(torch, onnx, rng, opset):
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.LayerNorm((5, 6)),
                              torch.nn.Flatten(), torch.nn.Linear(90, 4))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-1, 1)
    model = fonnx.load(_export(torch, net, torch.randn(2, 2, 5, 6), opset))
    (ln,) = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert ln.normalized_shape == (5, 6)
    model.eval()
    for n in (1, 3):
        x = rng.standard_normal((n, 2, 5, 6)).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"batch {n}")
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, "train-mode input gradient")


def test_normalisation_over_a_leading_axis_is_refused_by_name(torch, onnx):
    """The same ReduceMean ... Div pattern over axis 1 of a 3-D input is not a LayerNorm (fastnn
    has no Pow / Sqrt / Div of graph tensors to build it from pieces): refused with the reason."""
    class Net(torch.nn.Module):
        def forward(self, x):
            d = x - x.mean(1, keepdim=True)
            return d / torch.sqrt(d.pow(2).mean(1, keepdim=True) + 1e-5)

    with pytest.raises(ValueError, match=r"normalisation over axes \[1\] of a 3-D input"):
        fonnx.load(_export(torch, Net(), torch.randn(2, 3, 4), 11))
