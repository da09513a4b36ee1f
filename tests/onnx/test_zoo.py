"""The model-zoo architectures shipped with onnx (backend/test/data/light; their weights are
ConstantOfShape fills, replaced here by random initializers so the outputs mean something) against
onnxruntime (all ten load; VGG-19 only in the bench, for memory). And the pytorch-converted /
pytorch-operator cases as a conformance table (bench/onnx_conformance.py prints it)."""
import os

import numpy as np
import pytest

from fastnn import onnx as fonnx
from tests.onnx.conformance import cases, run_case
from tests.onnx.conftest import data_dir

# VGG-19 (143 M parameters) also loads and matches (python bench/onnx_conformance.py --zoo); it is left
# out here for memory.
# AlexNet, ZFNet-512 and Inception v1 use LRN; Inception v1's last pooling is a 7x7 AveragePool
# with pads (0, 0, 1, 1) over a 6x6 map (count_include_pad=0): one window over the whole input.
LOADS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
         "squeezenet", "zfnet512"]


def randomized(onnx, path, rng):
    """The zoo file with every ConstantOfShape weight replaced by a random initializer."""
    numpy_helper = onnx.numpy_helper
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    keep = []
    for n in m.graph.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = tuple(int(v) for v in inits[n.input[0]])
            if len(shape) > 1:
                v = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
            else:  # biases, BN parameters: positive, so variances stay valid
                v = rng.random(shape) * 0.5 + 0.75
            m.graph.initializer.append(numpy_helper.from_array(v.astype(np.float32), n.output[0]))
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


@pytest.mark.parametrize("name", LOADS)
def test_zoo_model_matches_onnxruntime(onnx, ort_run, name, rng):
    m = randomized(onnx, data_dir(onnx, "light", f"light_{name}.onnx"), rng)
    model = fonnx.load(m).eval()
    shape = model.input_shapes[0][1:]
    x = rng.random((1,) + shape).astype(np.float32)
    want = ort_run(m.SerializeToString(), x)[0]
    got = model(x)
    assert got.shape == want.shape and want.std() > 0
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


def _avgpool_model(onnx, shape, kernel, pads):
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node("AveragePool", ["x"], ["y"], kernel_shape=kernel, pads=pads)
    g = h.make_graph([node], "pool", [h.make_tensor_value_info("x", T.FLOAT, shape)],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 9)])


def test_average_pool_one_window_over_all_is_the_global_average(onnx, ort_run, rng):
    """Asymmetric pads without count_include_pad: converted only where one window covers the
    whole input (then it is GlobalAvgPool2d); a window that sees only part of it stays refused."""
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    for kernel, pads in (([7, 7], [0, 0, 1, 2]), ([6, 6], [0, 1, 0, 0]), ([8, 5], [2, 0, 0, 0])):
        m = _avgpool_model(onnx, [2, 3, 6, 5], kernel, pads)
        model = fonnx.load(m)
        (want,) = ort_run(m.SerializeToString(), x)
        assert want.shape == (2, 3, 1, 1)
        np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)
    for kernel, pads in (([5, 5], [0, 0, 1, 0]), ([7, 7], [0, 0, 2, 2])):  # 2x1 and 2x2 outputs
        with pytest.raises(ValueError, match="AveragePool with asymmetric pads"):
            fonnx.load(_avgpool_model(onnx, [2, 3, 6, 5], kernel, pads))


def test_conformance_table(onnx):
    results = {os.path.basename(c): run_case(onnx, c) for c in cases(onnx)}
    assert len(results) > 100
    wrong = {k: v for k, v in results.items() if v[0] == "mismatch"}
    assert not wrong, f"cases that load but compute something else: {wrong}"
    passed = sorted(k for k, v in results.items() if v[0] == "pass")
    # what passes today keeps passing (64 of 117 at the time of writing)
    for k in ("test_Conv2d_groups", "test_ConvTranspose2d", "test_BatchNorm1d_3d_input_eval",
              "test_PixelShuffle", "test_operator_permute2", "test_GLU", "test_PReLU_2d",
              "test_PReLU_3d_multiparam", "test_LogSoftmax", "test_log_softmax_dim3",
              "test_Softplus", "test_Softsign", "test_Softmin", "test_operator_clip"):
        assert k in passed
    for k in ("test_Embedding", "test_Embedding_sparse", "test_operator_reduced_mean",
              "test_operator_reduced_mean_keepdim", "test_operator_reduced_sum",
              "test_operator_reduced_sum_keepdim"):  # Embedding, ReduceMean/Sum: 6 more
        assert k in passed
    assert len(passed) >= 64
    # the 1-D convolution and max pooling cases (Conv1d, MaxPool1d): 12 more
    for k in ("test_Conv1d", "test_Conv1d_dilated", "test_Conv1d_groups", "test_Conv1d_pad1",
              "test_Conv1d_pad1size1", "test_Conv1d_pad2", "test_Conv1d_pad2size1",
              "test_Conv1d_stride", "test_MaxPool1d", "test_MaxPool1d_stride",
              "test_MaxPool1d_stride_padding_dilation", "test_operator_maxpool"):
        assert k in passed, k
    # BatchNorm3d, InstanceNorm, Exp/Sqrt/Pow/Max/Min, Tile, Flatten of a 1-D input: 12 more
    for k in ("test_BatchNorm3d_eval", "test_BatchNorm3d_momentum_eval",
              "test_PoissonNLLLLoss_no_reduce", "test_operator_exp", "test_operator_sqrt",
              "test_operator_pow", "test_operator_max", "test_operator_min",
              "test_operator_repeat", "test_operator_repeat_dim_overflow",
              "test_operator_symbolic_override", "test_operator_view"):
        assert k in passed, k
    assert len(passed) >= 94
    for status, detail in results.values():
        assert status == "pass" or detail
