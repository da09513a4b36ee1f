"""Circular padding in and out of ONNX (Pad mode 'wrap', opset 19): CircularPad2d, CircularPad1d
and Conv1d(padding_mode='circular') export to onnxruntime and back bit-identical; a lower opset is
refused naming the one needed; Pad nodes with mode 'wrap' (2-D and 1-D, pads given per axis)
against onnxruntime. (torch.onnx writes circular padding as Slice + Concat, not as a Pad, even at
opset 19: that form needs Slice of a graph tensor, which fastnn refuses.)"""
import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx
from tests.onnx.compare import close

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.mark.parametrize("opset", [19, 21])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, opset):
    m2 = nn.Sequential(nn.CircularPad2d((1, 2, 3, 0)), nn.Conv2d(3, 2, 3), nn.CircularPad2d(1))
    m1 = nn.Sequential(nn.CircularPad1d((2, 1)), nn.Conv1d(3, 4, 3, padding=2,
                                                           padding_mode="circular"))
    for model, shape, kind in ((m2, (3, 6, 5), nn.CircularPad2d), (m1, (3, 7), nn.CircularPad1d)):
        path = str(tmp_path / "c.onnx")
        proto = fonnx.export(model.eval(), path, input_shape=shape, opset=opset)
        onnx.checker.check_model(proto, full_check=True)
        assert [n.attribute[0].s for n in proto.graph.node if n.op_type == "Pad"] == \
            [b"wrap"] * 2
        back = fonnx.load(path).eval()
        assert any(type(m) is kind for m in back.modules())
        for n in (1, 3):
            x = rng.standard_normal((n,) + shape).astype(np.float32)
            want = model(x)
            close(ort_run(path, x)[0], want, f"onnxruntime {kind.__name__} batch {n}")
            np.testing.assert_array_equal(back(x), want)


def test_export_below_opset_19_is_refused(onnx):
    with pytest.raises(ValueError, match=r"circular padding is ONNX Pad mode 'wrap', which needs "
                                         r"opset >= 19, got opset 17"):
        fonnx.export(nn.Sequential(nn.CircularPad2d(1)), None, input_shape=(1, 3, 3))
    with pytest.raises(ValueError, match="needs opset >= 19, got opset 18"):
        fonnx.export(nn.Sequential(nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular")),
                     None, input_shape=(1, 5), opset=18)


@pytest.mark.parametrize("shape,pads,axes", [((2, 3, 5, 6), [0, 0, 2, 1, 0, 0, 1, 3], None),
                                             ((2, 3, 5, 6), [4, 0, 1, 6], [2, 3]),
                                             ((2, 3, 7), [0, 0, 3, 0, 0, 2], None)])
def test_wrap_pad_nodes_match_onnxruntime(onnx, ort_run, rng, shape, pads, axes):
    h, T = onnx.helper, onnx.TensorProto
    inits = [onnx.numpy_helper.from_array(np.array(pads, np.int64), "pads")]
    names = ["x", "pads"]
    if axes is not None:
        inits.append(onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        names += ["", "axes"]
    g = h.make_graph([h.make_node("Pad", names, ["y"], mode="wrap")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["n", *shape[1:]])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 19)])
    model = fonnx.load(m)
    assert any(type(l) in (nn.CircularPad2d, nn.CircularPad1d) for l in model.modules())
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(model(x), ort_run(m.SerializeToString(), x)[0])
