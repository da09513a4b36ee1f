"""Clear errors: a file that is not ONNX, unsupported operators (all listed at once, with their
nodes), unconvertible attributes, the wrong argument type; and the new layers against numpy."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import onnx as fonnx


def _model(onnx, nodes, inits=(), in_shape=("N", 3, 8, 8), opset=17):
    TensorProto, helper = onnx.TensorProto, onnx.helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     list(in_shape))],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                                         None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_not_onnx(onnx, tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"this is not a protobuf \xff\xfe" * 10)
    with pytest.raises(ValueError, match="not an ONNX model"):
        fonnx.load(str(p))
    with pytest.raises(ValueError, match="not an ONNX model"):
        fonnx.load(b"")
    with pytest.raises(TypeError, match="model"):
        fonnx.load(42)
    with pytest.raises(FileNotFoundError):
        fonnx.load(str(tmp_path / "missing.onnx"))


def test_unsupported_operators_listed_at_once(onnx):
    helper = onnx.helper
    nodes = [helper.make_node("NonMaxSuppression", ["x"], ["a"], name="nms1"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("RoiAlign", ["b"], ["c"], name="up"),
             helper.make_node("NonMaxSuppression", ["c"], ["d"], name="nms2")]
    with pytest.raises(ValueError) as e:
        fonnx.load(_model(onnx, nodes))
    msg = str(e.value)
    assert "NonMaxSuppression, RoiAlign" in msg
    for name in ("nms1", "nms2", "up"):
        assert name in msg


def test_new_reductions_are_not_listed_among_the_unsupported(onnx):
    helper = onnx.helper
    nodes = [helper.make_node("ReduceL2", ["x"], ["a"], name="l2", axes=[1]),
             helper.make_node("Expand", ["a"], ["b"], name="ex"),
             helper.make_node("ReduceLogSumExp", ["b"], ["c"], name="lse", axes=[1]),
             helper.make_node("NonMaxSuppression", ["c"], ["d"], name="nms")]
    with pytest.raises(ValueError) as e:
        fonnx.load(_model(onnx, nodes))
    msg = str(e.value)
    assert "Expand, NonMaxSuppression" in msg and "ex" in msg and "nms" in msg
    assert "ReduceL2" not in msg and "ReduceLogSumExp" not in msg


def test_unconvertible_nodes_listed(onnx):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    w = numpy_helper.from_array(np.array([0, 0, -1, 0, 0, 0, 0, 0], np.int64), "w")
    nodes = [helper.make_node("Pad", ["x", "w"], ["a"], name="crop"),
             helper.make_node("Relu", ["a"], ["b"], name="r"),
             helper.make_node("AveragePool", ["x"], ["c"], name="pool_dil", kernel_shape=[2, 2],
                              pads=[1, 1, 1, 1], dilations=[2, 2], strides=[1, 1]),
             helper.make_node("Add", ["b", "c"], ["d"], name="add")]
    with pytest.raises(ValueError) as e:
        fonnx.load(_model(onnx, nodes, [w]))
    msg = str(e.value)
    assert "crop (Pad): Pad with negative pads" in msg
    assert "pool_dil (AveragePool): dilated AveragePool" in msg


def test_conv3d_is_reported(onnx):
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c3d")]
    with pytest.raises(ValueError, match=r"c3d \(Conv\): 3-D Conv"):
        fonnx.load(_model(onnx, nodes, [w], in_shape=("N", 3, 8, 8, 8)))


def test_unknown_input_dims(onnx):
    helper = onnx.helper
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    with pytest.raises(ValueError, match="input 'x'"):
        fonnx.load(_model(onnx, nodes, in_shape=("N", 3, "H", "W")))


def test_old_opset_is_converted(onnx, ort_run, rng):
    helper = onnx.helper
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    m = fonnx.load(_model(onnx, nodes, opset=7))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(m(x), np.maximum(x, 0))


def test_constant_subgraph_and_arithmetic(onnx, ort_run, rng):
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and x*c + c, c - x, x / c, Sub of two
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    c = numpy_helper.from_array(rng.standard_normal((3, 1, 1)).astype(np.float32), "c")
    i0 = numpy_helper.from_array(np.array(0, np.int64), "i0")
    m1 = numpy_helper.from_array(np.array([-1], np.int64), "m1")
    nodes = [helper.make_node("Mul", ["x", "c"], ["a"]),
             helper.make_node("Add", ["a", "c"], ["b"]),
             helper.make_node("Sub", ["c", "b"], ["b2"]),
             helper.make_node("Div", ["b2", "c"], ["b3"]),
             helper.make_node("Sub", ["b3", "x"], ["b4"]),
             helper.make_node("Shape", ["b4"], ["s"]),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n"], ["nu"], axes=[0]),
             helper.make_node("Concat", ["nu", "m1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["b4", "shape"], ["y"])]
    model = _model(onnx, nodes, [c, i0, m1], opset=11)
    m = fonnx.load(model)
    x = rng.standard_normal((5, 3, 8, 8)).astype(np.float32)
    want = ort_run(model.SerializeToString(), x)[0]
    np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-5)
    assert m(x).shape == (5, 192)


def _grad_check(layer, x, rng):
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = layer.backward(g)
    eps = 1e-2
    k = tuple(rng.integers(0, s) for s in x.shape)
    xp, xm = x.copy(), x.copy()
    xp[k] += eps
    xm[k] -= eps
    num = ((layer(xp) * g).sum() - (layer(xm) * g).sum()) / (2 * eps)
    assert gx.shape == x.shape
    np.testing.assert_allclose(gx[k], num, rtol=1e-2, atol=1e-2)


def test_new_layers_against_numpy(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    c = rng.standard_normal((3, 1, 5)).astype(np.float32)
    np.testing.assert_array_equal(nn.AddConstant(c)(x), x + c)
    np.testing.assert_array_equal(nn.MulConstant(c)(x), x * c)
    np.testing.assert_array_equal(nn.Reshape((3, -1))(x), x.reshape(2, 3, 20))
    np.testing.assert_array_equal(nn.Transpose((3, 1, 2))(x), x.transpose(0, 3, 1, 2))
    for layer in (nn.AddConstant(c), nn.MulConstant(c), nn.Reshape((-1,)),
                  nn.Transpose((2, 3, 1))):
        _grad_check(layer, x, rng)
    g = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    m = nn.MulConstant(c)
    m(x)
    np.testing.assert_array_equal(m.backward(g), g * c)
    # broadcasting up: the constant has more dims than the input
    small = rng.standard_normal((2, 5)).astype(np.float32)
    m = nn.MulConstant(rng.standard_normal((3, 1, 5)).astype(np.float32))
    assert m(small).shape == (3, 2, 5)
    assert m.backward(np.ones((3, 2, 5), np.float32)).shape == (2, 5)
    with pytest.raises(ValueError, match="Reshape"):
        nn.Reshape((7,))(x)
    with pytest.raises(ValueError, match="perm"):
        nn.Transpose((1, 1))
    with pytest.raises(ValueError, match="broadcast"):
        nn.AddConstant(np.ones(4, np.float32))(x)


def test_new_layers_save_and_load(tmp_path, rng):
    inp = nn.Input((3, 4, 5))
    y = nn.MulConstant(rng.standard_normal((3, 1, 1)).astype(np.float32))(inp)
    y = nn.Transpose((1, 3, 2))(nn.AddConstant(np.float32(2.0))(y))
    model = nn.Model(inp, nn.Reshape((-1,))(y))
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    fastnn.save(model, tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    np.testing.assert_array_equal(back(x), model(x))


def test_without_onnx_the_error_names_the_extra(tmp_path):
    # fastnn imports without onnx; fastnn.onnx.load says which extra to install; the onnx tests
    # skip by default and fail under FASTNN_REQUIRE_TORCH=1.
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    (tmp_path / "onnx.py").write_text("raise ImportError('onnx blocked for this test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), root]))
    env.pop("FASTNN_REQUIRE_TORCH", None)
    code = ("import fastnn.onnx\ntry:\n    fastnn.onnx.load(b'x')\nexcept ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True)
    assert "pip install fastnn[onnx]" in out.stdout, out.stderr[-2000:]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/onnx/test_errors.py::test_not_onnx"]
    plain = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout[-2000:]
    env["FASTNN_REQUIRE_TORCH"] = "1"
    strict = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert strict.returncode == 1 and "FASTNN_REQUIRE_TORCH=1" in strict.stdout
