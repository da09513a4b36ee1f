"""A Sequential holding a Residual and a graph model (tests/nn/test_graph_containers.py's
``nested``) exported to ONNX: every container inlined through its graph (the Residual's join an
Add), onnxruntime gives fastnn's outputs, and the file loads back into fastnn."""
import numpy as np

import fastnn
import fastnn.onnx
from fastnn import nn
from tests.nn.test_graph_containers import nested, warm


def test_export_nested_containers(rng, tmp_path, ort_run, onnx):
    model = warm(nested(), rng)
    path = str(tmp_path / "nested.onnx")
    proto = fastnn.onnx.export(model, path, input_shape=(3, 6, 6))
    assert [n.op_type for n in proto.graph.node].count("Add") == 1  # the Residual's join
    xb = rng.standard_normal((3, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ort_run(path, xb)[0], fastnn.predict(model, xb), rtol=1e-4,
                               atol=1e-4)
    back = fastnn.onnx.load(path)
    np.testing.assert_allclose(fastnn.predict(back, xb), fastnn.predict(model, xb), rtol=1e-5,
                               atol=1e-5)


def test_export_a_residual_on_its_own(rng, tmp_path, ort_run, onnx):
    fastnn.manual_seed(5)
    res = nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    path = str(tmp_path / "res.onnx")
    fastnn.onnx.export(res, path, input_shape=(4,))
    xb = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(ort_run(path, xb)[0], fastnn.predict(res, xb), rtol=1e-5,
                               atol=1e-5)
