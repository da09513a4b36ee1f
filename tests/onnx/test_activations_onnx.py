"""PRelu, Clip (ReLU6 / Hardtanh), HardSigmoid, HardSwish, Softplus, Softsign and LogSoftmax in
and out of ONNX: PyTorch -> ONNX (opsets 11 and 17) -> fastnn equal to PyTorch (eval outputs,
input and PReLU weight gradients); fastnn -> ONNX -> onnxruntime equal and -> fastnn
bit-identical; hand-written nodes for the opset-dependent forms (Clip attributes before opset 11,
LogSoftmax's 2-D coercion before 13) and the unconvertible ones' errors."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import close, train_input_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _torch_models(torch):
    tnn = torch.nn

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.pa = tnn.Linear(12, 16), tnn.PReLU(16, init=0.2)
            self.b, self.pb = tnn.Linear(16, 16), tnn.PReLU()
            self.c = tnn.Linear(16, 16)
            self.acts = tnn.Sequential(tnn.Hardtanh(-0.5, 2.0), tnn.Linear(16, 16), tnn.ReLU6(),
                                       tnn.Linear(16, 16), tnn.Hardsigmoid(),
                                       tnn.Linear(16, 16), tnn.Hardswish(),
                                       tnn.Linear(16, 16), tnn.Softplus(),
                                       tnn.Linear(16, 16), tnn.Softplus(beta=2.0),
                                       tnn.Linear(16, 16), tnn.Softsign(), tnn.Linear(16, 5),
                                       tnn.LogSoftmax(dim=1))

        def forward(self, x):
            return self.acts(self.c(self.pb(self.b(self.pa(self.a(x))))))

    class CNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.p1 = tnn.Conv2d(3, 6, 3, padding=1), tnn.PReLU(6, init=0.1)
            self.c2 = tnn.Conv2d(6, 4, 3, padding=1)

        def forward(self, x):
            y = torch.nn.functional.hardswish(self.c2(torch.nn.functional.relu6(self.p1(self.c1(x)))))
            return torch.log_softmax(y, dim=1)  # over channels: a non-last axis

    return {"mlp": (MLP, (12,)), "cnn": (CNN, (3, 6, 6))}


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_torch_export_imports(torch, onnx, rng, name, opset):
    torch.manual_seed(0)
    cls, shape = _torch_models(torch)[name]
    net = cls()
    with torch.no_grad():  # distinct slopes, so a mixed-up channel shows
        for m in net.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape) * 0.6 - 0.3)
    buf = io.BytesIO()
    torch.onnx.export(net.eval(), torch.randn(2, *shape), buf, opset_version=opset, dynamo=False,
                      do_constant_folding=False, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    model = fonnx.load(buf.getvalue())
    kinds = {type(m) for m in model.modules()}
    want = {nn.PReLU, nn.LogSoftmax} | ({nn.Hardtanh, nn.ReLU6, nn.Hardsigmoid, nn.Softplus,
                                         nn.Softsign} if name == "mlp" else {nn.ReLU6})
    assert want <= kinds, kinds
    assert sum(p.size for p in model.parameters()) == sum(p.numel() for p in net.parameters())
    model.eval()
    for n in (1, 5):
        x = (rng.standard_normal((n,) + shape) * 2).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"{name} opset {opset} batch {n}")
    # training: input gradients and the PReLU slopes' gradients equal PyTorch's
    x = (rng.standard_normal((4,) + shape) * 2).astype(np.float32)
    ours, theirs = train_input_gradients(torch, model, net, x, rng)
    close(ours, theirs, f"{name} opset {opset} input gradient")
    ours = sorted((m.weight.grad for m in model.modules() if isinstance(m, nn.PReLU)),
                  key=lambda a: a.size)
    theirs = sorted((m.weight.grad.numpy() for m in net.modules()
                     if isinstance(m, torch.nn.PReLU)), key=lambda a: a.size)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        close(a, b, f"{name} opset {opset} PReLU weight gradient")


def _fastnn_model():
    return nn.Sequential(nn.Linear(10, 16), nn.PReLU(16), nn.Linear(16, 16), nn.PReLU(),
                         nn.Hardtanh(-0.5, 1.5), nn.Linear(16, 16), nn.ReLU6(),
                         nn.Linear(16, 16), nn.Hardsigmoid(), nn.Linear(16, 16),
                         nn.Hardsigmoid(0.2, 0.4), nn.Linear(16, 16), nn.Hardswish(),
                         nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 16), nn.Softsign(),
                         nn.Linear(16, 4), nn.LogSoftmax(1))


def _fastnn_cnn():
    return nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.PReLU(5), nn.Hardswish(),
                         nn.Conv2d(5, 3, 1), nn.LogSoftmax(1))


def _randomize_slopes(model, rng):
    for m in model.modules():
        if isinstance(m, nn.PReLU):
            m.weight.data[...] = rng.uniform(-0.4, 0.4, m.weight.shape)
    return model.eval()


@pytest.mark.parametrize("opset", [13, 14, 17])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, kind, opset):
    model = _randomize_slopes(_fastnn_model() if kind == "mlp" else _fastnn_cnn(), rng)
    shape = (10,) if kind == "mlp" else (2, 7, 5)
    path = tmp_path / "m.onnx"
    proto = fonnx.export(model, str(path), input_shape=shape, opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert "PRelu" in ops and "LogSoftmax" in ops
    assert ("HardSwish" in ops) == (opset >= 14)
    for n in (1, 6):
        x = (rng.standard_normal((n,) + shape) * 2).astype(np.float32)
        want = model(x)
        (got,) = ort_run(str(path), x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
        back = fonnx.load(str(path)).eval()
        if opset >= 14:  # HardSwish comes back as Hardswish: the same layers, the same bits
            np.testing.assert_array_equal(back(x), want)
        else:
            close(back(x), want, "HardSigmoid * x for Hardswish")


def test_export_softplus_beta_and_one_sided_clip(onnx, ort_run, rng):
    model = nn.Sequential(nn.Linear(6, 6), nn.Softplus(beta=2.0), nn.Linear(6, 6),
                          nn.Hardtanh(float("-inf"), 0.5), nn.Linear(6, 6),
                          nn.Hardtanh(-0.25, float("inf"))).eval()
    proto = fonnx.export(model, None, input_shape=(6,))
    onnx.checker.check_model(proto, full_check=True)
    x = (rng.standard_normal((5, 6)) * 3).astype(np.float32)
    (got,) = ort_run(proto.SerializeToString(), x)
    close(got, model(x), "softplus beta 2, one-sided clips")
    close(fonnx.load(proto).eval()(x), model(x), "round trip")


def _graph(onnx, nodes, inits=(), shape=("N", 4), opset=17):
    TensorProto, helper = onnx.TensorProto, onnx.helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     list(shape))],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                                         None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ort_equal(onnx, ort_run, proto, x, layer_type):
    model = fonnx.load(proto).eval()
    assert any(type(m) is layer_type for m in model.modules()), [type(m) for m in model.modules()]
    (want,) = ort_run(proto.SerializeToString(), x)
    close(model(x), want, layer_type.__name__)


@pytest.mark.parametrize("opset", [9, 10, 11, 13])
def test_clip_forms(onnx, ort_run, rng, opset):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    x = (rng.standard_normal((3, 4)) * 5).astype(np.float32)
    for (lo, hi), layer in [((0.0, 6.0), nn.ReLU6), ((-1.0, 2.0), nn.Hardtanh),
                            ((0.0, None), nn.ReLU), ((None, 1.5), nn.Hardtanh)]:
        if opset < 11:
            attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
            nodes, inits = [helper.make_node("Clip", ["x"], ["y"], **attrs)], []
        else:
            inits = [numpy_helper.from_array(np.float32(v), k) for k, v in (("lo", lo), ("hi", hi))
                     if v is not None]
            nodes = [helper.make_node("Clip", ["x", "lo" if lo is not None else "",
                                               "hi" if hi is not None else ""], ["y"])]
        _ort_equal(onnx, ort_run, _graph(onnx, nodes, inits, opset=opset), x, layer)


def test_hardsigmoid_attributes(onnx, ort_run, rng):
    helper = onnx.helper
    x = (rng.standard_normal((3, 4)) * 5).astype(np.float32)
    for attrs in ({}, {"alpha": 0.3, "beta": 0.4}, {"alpha": float(np.float32(1 / 6))}):
        proto = _graph(onnx, [helper.make_node("HardSigmoid", ["x"], ["y"], **attrs)])
        _ort_equal(onnx, ort_run, proto, x, nn.Hardsigmoid)
        layer = next(m for m in fonnx.load(proto).modules() if isinstance(m, nn.Hardsigmoid))
        assert layer.alpha == pytest.approx(attrs.get("alpha", 0.2))  # ONNX's default 0.2


def test_other_activations_against_onnxruntime(onnx, ort_run, rng):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    x = (rng.standard_normal((2, 3, 4, 5)) * 4).astype(np.float32)
    shape = ("N", 3, 4, 5)
    slope = numpy_helper.from_array(rng.uniform(-0.5, 0.5, (3, 1, 1)).astype(np.float32), "s")
    one = numpy_helper.from_array(np.float32([0.3]), "s1")
    cases = [([helper.make_node("HardSwish", ["x"], ["y"])], [], nn.Hardswish),
             ([helper.make_node("Softplus", ["x"], ["y"])], [], nn.Softplus),
             ([helper.make_node("Softsign", ["x"], ["y"])], [], nn.Softsign),
             ([helper.make_node("PRelu", ["x", "s"], ["y"])], [slope], nn.PReLU),
             ([helper.make_node("PRelu", ["x", "s1"], ["y"])], [one], nn.PReLU),
             ([helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], [], nn.LogSoftmax),
             ([helper.make_node("LogSoftmax", ["x"], ["y"])], [], nn.LogSoftmax)]
    for nodes, inits, layer in cases:
        _ort_equal(onnx, ort_run, _graph(onnx, nodes, inits, shape), x, layer)


def test_log_softmax_opset_11_axis(onnx, ort_run, rng):
    # Before opset 13 LogSoftmax flattens the input to 2-D at axis: the same as fastnn's dim
    # when the axes after it have size 1, refused otherwise.
    helper = onnx.helper
    x = (rng.standard_normal((2, 6, 1, 1)) * 3).astype(np.float32)
    proto = _graph(onnx, [helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], shape=("N", 6, 1, 1),
                   opset=11)
    _ort_equal(onnx, ort_run, proto, x, nn.LogSoftmax)
    proto = _graph(onnx, [helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)],
                   shape=("N", 6, 2, 2), opset=11)
    with pytest.raises(ValueError, match=r"LogSoftmax\(axis=1\) over several trailing axes"):
        fonnx.load(proto)


def test_unconvertible_forms_are_named(onnx):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    bad_slope = numpy_helper.from_array(np.ones((2, 4), np.float32), "s")
    nodes = [helper.make_node("PRelu", ["x", "s"], ["a"], name="prelu_2d"),
             helper.make_node("Clip", ["x", "x"], ["b"], name="clip_dyn"),
             helper.make_node("Add", ["a", "b"], ["c"], name="add")]
    with pytest.raises(ValueError) as e:
        fonnx.load(_graph(onnx, nodes, [bad_slope], shape=("N", 3, 4)))
    msg = str(e.value)
    assert "prelu_2d (PRelu): PRelu with a slope of shape (2, 4)" in msg
    assert "clip_dyn (Clip)" in msg and "must be a constant" in msg


def test_legacy_one_dimensional_prelu_slope_is_per_channel(onnx, rng):
    # Before opset 7 a 1-D slope of C values meant one per channel; old files (onnx's
    # pytorch-converted test_PReLU_*_multiparam) keep that form, which numpy broadcasting cannot
    # read onto a last axis of another size. Their reference outputs are per channel.
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    w = np.float32([0.1, -0.2, 0.3])
    proto = _graph(onnx, [helper.make_node("PRelu", ["x", "s"], ["y"])],
                   [numpy_helper.from_array(w, "s")], shape=("N", 3, 4))
    model = fonnx.load(proto).eval()
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model(x), np.where(x > 0, x, w[:, None] * x))
    # the same slope on a last axis of 3 is numpy broadcasting onto that axis: not per channel
    proto = _graph(onnx, [helper.make_node("PRelu", ["x", "s"], ["y"])],
                   [numpy_helper.from_array(w, "s")], shape=("N", 3, 3))
    with pytest.raises(ValueError, match="PRelu with a slope of shape"):
        fonnx.load(proto)


def test_imported_prelu_trains(onnx, rng):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    slope = numpy_helper.from_array(np.float32([0.1, 0.2, 0.3, 0.4]), "s")
    model = fonnx.load(_graph(onnx, [helper.make_node("PRelu", ["x", "s"], ["y"])], [slope]))
    layer = next(m for m in model.modules() if isinstance(m, nn.PReLU))
    np.testing.assert_array_equal(layer.weight.data, np.float32([0.1, 0.2, 0.3, 0.4]))
    x = -np.abs(rng.standard_normal((5, 4))).astype(np.float32)
    model.train()
    model(x)
    model.zero_grad()
    model.backward(np.ones((5, 4), np.float32))
    np.testing.assert_allclose(layer.weight.grad, x.sum(axis=0), rtol=1e-6)
    assert fastnn.nn.PReLU in {type(m) for m in model.modules()}
