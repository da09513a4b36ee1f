"""fastnn -> ONNX of BatchNorm3d, InstanceNorm1d/2d/3d (affine or not: InstanceNormalization;
with track_running_stats: the BatchNormalization its eval mode computes) and the element-wise
layers Exp, Log, Sqrt, Pow, Maximum, Minimum, Tile (fewer, as many and more repeats than axes):
onnxruntime's outputs within 1e-4 of fastnn's, the file back into fastnn bit-identical, the
checker's full check passing."""
import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import close


def _round_trip(onnx, ort_run, tmp_path, model, shapes, rng, opset=17, positive=False):
    path = str(tmp_path / "m.onnx")
    proto = fonnx.export(model, path, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    back = fonnx.load(path).eval()
    model.eval()
    for n in (1, 3):
        xs = [rng.standard_normal((n,) + s).astype(np.float32) for s in shapes]
        if positive:
            xs = [np.abs(x) + np.float32(0.1) for x in xs]
        want = model(*xs)
        want = list(want) if isinstance(want, (list, tuple)) else [want]
        for got, w in zip(ort_run(path, *xs), want):
            close(got, w, f"onnxruntime, batch {n}")
        got = back(*xs)
        for g, w in zip(got if isinstance(got, (list, tuple)) else [got], want):
            np.testing.assert_array_equal(g, w)
    return proto, back


def _randomise(layer, rng):
    if layer.weight is not None:
        layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
        layer.bias.data[...] = rng.uniform(-0.5, 0.5, layer.bias.shape)
    if layer.running_mean is not None:
        layer.running_mean[...] = rng.uniform(-0.5, 0.5, layer.running_mean.shape)
        layer.running_var[...] = rng.uniform(0.5, 2.0, layer.running_var.shape)


@pytest.mark.parametrize("opset", [13, 17])
def test_batchnorm3d(onnx, ort_run, tmp_path, rng, opset):
    bn = nn.BatchNorm3d(3, eps=1e-3)
    _randomise(bn, rng)
    inp = nn.Input((3, 4, 5, 6))
    proto, back = _round_trip(onnx, ort_run, tmp_path, nn.Model(inp, bn(inp)), [(3, 4, 5, 6)],
                              rng, opset)
    assert "BatchNormalization" in [n.op_type for n in proto.graph.node]
    assert any(type(m) is nn.BatchNorm3d for m in back.modules())


@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (3, 7)), (nn.InstanceNorm2d, (3, 5, 6)),
                                       (nn.InstanceNorm3d, (3, 4, 5, 3))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [False, True])
def test_instance_norm(onnx, ort_run, tmp_path, rng, cls, shape, affine, track):
    layer = cls(3, eps=1e-4, affine=affine, track_running_stats=track)
    _randomise(layer, rng)
    inp = nn.Input(shape)
    model = nn.Model(inp, nn.ReLU()(layer(inp)))
    proto, back = _round_trip(onnx, ort_run, tmp_path, model, [shape], rng)
    ops = [n.op_type for n in proto.graph.node]
    assert ("BatchNormalization" if track else "InstanceNormalization") in ops
    if not track:
        assert any(type(m) is cls for m in back.modules())


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_pointwise_layers(onnx, ort_run, tmp_path, rng, opset):
    a, b = nn.Input((3, 4), name="a"), nn.Input((1, 4), name="b")
    outs = [nn.Exp()(nn.Log()(a)), nn.Sqrt()(a), nn.Pow()(a, b), nn.Maximum()(a, b),
            nn.Minimum()(b, a), nn.Tile((2,))(a), nn.Tile((2, 3))(a), nn.Tile((2, 1, 3))(b)]
    model = nn.Model([a, b], outs)
    proto, back = _round_trip(onnx, ort_run, tmp_path, model, [(3, 4), (1, 4)], rng, opset,
                              positive=True)
    ops = [n.op_type for n in proto.graph.node]
    for op in ("Exp", "Log", "Sqrt", "Pow", "Max", "Min", "Tile", "Reshape"):
        assert op in ops
    assert model.output_shapes == back.output_shapes


def test_batchnorm_without_stats_is_refused(onnx):
    bn = nn.BatchNorm3d(2, track_running_stats=False)
    with pytest.raises(ValueError, match="BatchNorm3d without running statistics"):
        fonnx.export(nn.Sequential(bn), None, input_shape=(2, 3, 3, 3))
