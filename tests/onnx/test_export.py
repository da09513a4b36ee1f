"""fastnn -> ONNX: the checker accepts the file (full_check), onnxruntime gives the same outputs
(<= 1e-4 relative), and fastnn -> ONNX -> fastnn is bit-identical."""
import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx


def _graph_model():
    x = nn.Input((3, 12, 12), name="image")
    b1 = nn.Conv2d(3, 8, 1)(x)
    b2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)(nn.ReLU()(nn.Conv2d(3, 8, 1)(x)))
    b3 = nn.Conv2d(3, 8, 1)(nn.MaxPool2d(3, stride=1, padding=1)(x))
    y = nn.ELU()(nn.BatchNorm2d(24)(nn.Concat(dim=1)(b1, b2, b3)))
    y = y + nn.Conv2d(24, 24, 3, padding=2, dilation=2)(y)
    y = nn.AvgPool2d(2)(nn.LeakyReLU(0.2)(y))
    a, b = nn.Split(12, dim=1)(y)
    y = nn.Multiply()(a, nn.Sigmoid()(b))
    y = nn.MulConstant(np.full((12, 1, 1), 0.5, np.float32))(y)
    y = nn.Transpose((1, 3, 2))(nn.AddConstant(np.float32(0.25))(y))
    y = nn.Flatten()(nn.Reshape((12, -1))(y))
    return nn.Model(inputs=x, outputs=nn.Softmax()(nn.Linear(12 * 36, 10)(y)))


def _sequential():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.GELU(),
                         nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=1),
                         nn.SELU(), nn.GlobalAvgPool2d(), nn.Dropout(0.2),
                         nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))


def _prepare(model, rng):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean[...] = rng.standard_normal(m.num_features) * 0.1
            m.running_var[...] = rng.random(m.num_features) + 0.5
    return model.eval()


@pytest.mark.parametrize("kind", ["graph", "sequential"])
@pytest.mark.parametrize("opset", [13, 17, 20])
def test_export_runs_in_onnxruntime_and_round_trips(onnx, ort_run, tmp_path, rng, kind, opset):
    model = _prepare(_graph_model() if kind == "graph" else _sequential(), rng)
    shape = (3, 12, 12) if kind == "graph" else (1, 9, 9)
    path = tmp_path / "m.onnx"
    proto = fonnx.export(model, str(path), input_shape=None if kind == "graph" else shape,
                         opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert proto.opset_import[0].version == opset
    for n in (1, 7):  # dynamic batch
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        want = model(x)
        (got,) = ort_run(str(path), x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
        back = fonnx.load(str(path)).eval()
        np.testing.assert_array_equal(back(x), want)
    assert (sum(p.size for p in fonnx.load(proto).parameters())
            == sum(p.size for p in model.parameters()))


def test_export_fixed_batch(onnx, ort_run, rng):
    model = _prepare(_sequential(), rng)
    proto = fonnx.export(model, None, input_shape=(1, 9, 9), dynamic_batch=False)
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 1
    x = rng.standard_normal((1, 1, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(ort_run(proto.SerializeToString(), x)[0], model(x), rtol=1e-4,
                               atol=1e-6)


def test_export_errors(onnx):
    seq = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="input_shape"):
        fonnx.export(seq, None)
    with pytest.raises(ValueError, match="opset"):
        fonnx.export(seq, None, input_shape=(3,), opset=9)
    with pytest.raises(TypeError, match="model"):
        fonnx.export(nn.Linear(3, 2), None, input_shape=(3,))

    class Custom(nn.Module):
        def forward(self, x):
            return x

        def get_config(self):
            return {}

    with pytest.raises(ValueError, match="Custom has no ONNX export"):
        fonnx.export(nn.Sequential(nn.Linear(3, 2), Custom()), None, input_shape=(3,))


def test_imported_model_saves_and_prunes(onnx, tmp_path, rng):
    # an imported model is an ordinary nn.Model: fastnn.save / load, magnitude pruning
    import fastnn
    model = _prepare(_graph_model(), rng)
    back = fonnx.load(fonnx.export(model, None)).eval()
    fastnn.save(back, tmp_path / "m.fnn")
    again = fastnn.load(tmp_path / "m.fnn").eval()
    x = rng.standard_normal((3, 3, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model(x))
    fastnn.prune.magnitude_prune(again, 0.5)
    assert again(x).shape == (3, 10)


@pytest.mark.parametrize("opset", [13, 17])
def test_pool_options_export_to_onnxruntime(onnx, ort_run, tmp_path, rng, opset):
    """MaxPool2d(dilation, ceil_mode) and AvgPool2d(ceil_mode, count_include_pad) go out with
    their attributes, run the same in onnxruntime and come back as the same layers."""
    model = nn.Sequential(nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
                          nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                          nn.AvgPool2d(2, 1, 1, ceil_mode=False, count_include_pad=True),
                          nn.MaxPool2d(2, ceil_mode=True)).eval()
    path = tmp_path / "p.onnx"
    fonnx.export(model, str(path), input_shape=(3, 17, 15), opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = rng.standard_normal((2, 3, 17, 15)).astype(np.float32)
    want = model(x)
    (got,) = ort_run(str(path), x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    back = fonnx.load(str(path)).eval()
    np.testing.assert_array_equal(back(x), want)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_pad_layers_export_to_onnxruntime(onnx, ort_run, tmp_path, rng, opset):
    model = nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.ConstantPad2d(1, -2.5),
                          nn.ReflectionPad2d((1, 2, 0, 1)), nn.ReplicationPad2d(2),
                          nn.Conv2d(3, 2, 3)).eval()
    path = tmp_path / "p.onnx"
    fonnx.export(model, str(path), input_shape=(3, 6, 5), opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    want = model(x)
    (got,) = ort_run(str(path), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fonnx.load(str(path)).eval()(x), want)


def test_asymmetric_pads_import(onnx, ort_run, rng):
    """Conv and MaxPool with asymmetric pads (and SAME_UPPER with an odd total) import as an
    explicit pad layer + the symmetric op, matching onnxruntime."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[0, 1, 2, 1]),
             helper.make_node("MaxPool", ["a"], ["b"], kernel_shape=[2, 2], strides=[2, 2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("AveragePool", ["b"], ["y"], kernel_shape=[3, 3], pads=[1, 0, 0, 1],
                              count_include_pad=1)]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                         ["N", 3, 9, 8])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    model = fonnx.load(m).eval()
    assert any(isinstance(layer, nn.ConstantPad2d) for layer in model.modules())
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-5)
