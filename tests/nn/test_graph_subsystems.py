"""Every subsystem on graph models: magnitude and unit pruning, GradualPruning in fit, to_sparse,
BatchNorm folding, static and dynamic quantization, save/load of each result."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.prune import GradualPruning, magnitude_prune, to_sparse, unit_prune
from fastnn.quant import QuantizedModel, fold_batchnorm, quantize, quantize_dynamic


def _branched(bn=True, seed=0):
    """Inception-style: 1x1 and 3x3 branches concatenated, a residual Add, a Linear head."""
    fastnn.manual_seed(seed)
    x = nn.Input((3, 8, 8))
    a = nn.ReLU()(nn.Conv2d(3, 6, 1)(x))
    b = nn.Conv2d(3, 6, 3, padding=1)(x)
    b = nn.ReLU()(nn.BatchNorm2d(6)(b) if bn else b)
    y = nn.Concat(1)(a, b)
    y = nn.ReLU()(nn.Conv2d(12, 8, 3, padding=1)(y)) + nn.Conv2d(12, 8, 1)(y)
    h = nn.ReLU()(nn.Linear(8 * 16, 16)(nn.Flatten()(nn.MaxPool2d(2)(y))))
    return nn.Model(x, nn.Linear(16, 4)(h))


def _warm(model, rng):
    model.train()
    for _ in range(3):
        model(rng.standard_normal((16, 3, 8, 8)).astype(np.float32))
    return model.eval()


def test_unit_prune_follows_concat_and_keeps_add_inputs(rng):
    model = _branched(bn=False)
    ref = _branched(bn=False)
    xb = rng.standard_normal((5, 3, 8, 8)).astype(np.float32)
    report = unit_prune(model, 0.5)
    assert report["conv2d"]["after"] == 3 and report["conv2d_1"]["after"] == 3
    assert report["linear"]["after"] == 8
    skipped = report["skipped"]
    assert "Add" in skipped["conv2d_2"] and "Add" in skipped["conv2d_3"]
    assert "final layer" in skipped["linear_1"]
    # The consumers after the Concat lost the matching input slices:
    assert model.conv2d_2.in_channels == 6 and model.conv2d_3.in_channels == 6
    assert model.linear_1.in_features == 8
    # Same outputs as the original with the removed units silenced (weights and bias zeroed).
    for name in ("conv2d", "conv2d_1", "linear"):
        layer = getattr(ref, name)
        gone = report[name]["removed"]
        layer.weight.data[gone] = 0
        layer.bias.data[gone] = 0
    np.testing.assert_allclose(model(xb), ref(xb), rtol=1e-5, atol=1e-5)
    # And it trains: a backward through the smaller graph.
    model.train()
    y = model(xb)
    assert model.backward(np.ones_like(y)).shape == xb.shape


def test_unit_prune_with_batchnorm_in_a_branch(rng):
    model = _warm(_branched(bn=True), rng)
    report = unit_prune(model, 0.5, layers=["conv2d_1"])
    assert model.batchnorm2d.num_features == 3 and model.batchnorm2d.running_mean.shape == (3,)
    assert model.conv2d_2.in_channels == 9 and report["conv2d_1"]["after"] == 3
    assert model(rng.standard_normal((2, 3, 8, 8)).astype(np.float32)).shape == (2, 4)
    with pytest.raises(ValueError, match="'conv2d_2' cannot lose units: .*Add"):
        unit_prune(model, 0.5, layers=["conv2d_2"])


def test_magnitude_pruning_to_sparse_and_save(rng, tmp_path):
    model = _warm(_branched(), rng)
    magnitude_prune(model, 0.8)
    xb = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    dense = fastnn.predict(model, xb)
    sparse = to_sparse(model, min_sparsity=0.7)
    kinds = [type(m).__name__ for m in sparse.layers]
    assert "SparseConv2d" in kinds and "SparseLinear" in kinds
    np.testing.assert_allclose(fastnn.predict(sparse, xb), dense, rtol=1e-4, atol=1e-5)
    fastnn.save(sparse, tmp_path / "s.fnn")
    back = fastnn.load(tmp_path / "s.fnn")
    np.testing.assert_allclose(fastnn.predict(back, xb), dense, rtol=1e-4, atol=1e-5)


def test_gradual_pruning_in_fit(rng):
    model = _branched()
    x = rng.standard_normal((128, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 128)
    opt = fastnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=3, batch_size=32, verbose=0,
               callbacks=[GradualPruning(0.5, start_epoch=0, end_epoch=2, frequency=1)], seed=0)
    w = model.conv2d_2.weight.data
    assert 0.45 <= 1 - np.count_nonzero(w) / w.size <= 0.55


def test_fold_batchnorm_anywhere(rng):
    model = _warm(_branched(), rng)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.layers)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.layers)  # the original is unchanged
    xb = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(fastnn.predict(folded, xb), fastnn.predict(model, xb), rtol=1e-4,
                               atol=1e-5)


def test_quantize_branched_graph(rng, tmp_path):
    model = _warm(_branched(), rng)
    calib = rng.standard_normal((128, 3, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model, calib, check_speed=False)
    segments = [m for m in q.layers if type(m).__name__ == "QuantizedSegment"]
    assert len(segments) >= 4 and not any(isinstance(m, (nn.Conv2d, nn.Linear))
                                          for m in q.layers)
    ref = fastnn.predict(model, calib[:64])
    got = fastnn.predict(q, calib[:64])
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.05
    fastnn.save(q, tmp_path / "q.fnn")
    back = fastnn.load(tmp_path / "q.fnn")
    np.testing.assert_array_equal(fastnn.predict(back, calib[:64]), got)
    with pytest.raises(TypeError, match="inference-only"):
        fastnn.fit(q, nn.CrossEntropyLoss(), fastnn.optim.SGD(model.parameters(), lr=0.1), calib,
                   np.zeros(128, np.int64), verbose=0)


def test_quantize_chain_graph_is_a_quantized_model(rng):
    x = nn.Input(20)
    model = nn.Model(x, nn.Linear(16, 4)(nn.ReLU()(nn.Linear(20, 16)(x)))).eval()
    calib = rng.standard_normal((64, 20)).astype(np.float32)
    q = quantize(model, calib, check_speed=False)
    assert isinstance(q, QuantizedModel) and q.int8_layers == ["linear+relu", "linear_1"]
    d = quantize_dynamic(model)
    assert isinstance(d, QuantizedModel)
    ref = fastnn.predict(model, calib)
    for m in (q, d):
        assert np.linalg.norm(fastnn.predict(m, calib) - ref) / np.linalg.norm(ref) < 0.05


def test_quantize_dynamic_branched_graph(rng):
    model = _warm(_branched(), rng)
    d = quantize_dynamic(model)
    assert [type(m).__name__ for m in d.layers].count("QuantizedSegment") == 1  # the MLP head
    xb = rng.standard_normal((16, 3, 8, 8)).astype(np.float32)
    ref = fastnn.predict(model, xb)
    assert np.linalg.norm(fastnn.predict(d, xb) - ref) / np.linalg.norm(ref) < 0.05


def test_fold_batchnorm_inside_residual_and_nested_graph(rng):
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    inner = _branched()
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Residual(block),
                          nn.Sequential(nn.Conv2d(4, 3, 1), nn.BatchNorm2d(3)), inner)
    model.train()
    for _ in range(3):
        model(rng.standard_normal((8, 3, 8, 8)).astype(np.float32))
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    xb = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(folded(xb), model(xb), rtol=1e-4, atol=1e-5)


def test_unit_prune_through_nested_containers(rng):
    """One view for every model: a Sequential node inside a graph, a graph inside a Sequential."""
    fastnn.manual_seed(3)
    x = nn.Input(6)
    enc = nn.Sequential(nn.Linear(6, 10), nn.ReLU())
    inner = nn.Model(x, nn.Linear(10, 4)(enc(x)))
    model = nn.Sequential(inner, nn.ReLU(), nn.Linear(4, 3))
    xb = rng.standard_normal((5, 6)).astype(np.float32)
    ref = model(xb)
    enc[0].weight.data[[2, 7]] *= 1e-4  # the two smallest units, silenced downstream
    inner.linear.weight.data[:, [2, 7]] = 0
    ref = model(xb)
    report = unit_prune(model, 0.2)
    assert report["0.sequential.0"]["removed"] == [2, 7] and enc[0].out_features == 8
    assert inner.linear.in_features == 8 and report["0.linear"]["after"] == 3
    assert model[2].in_features == 3
    assert model(xb).shape == (5, 3) and ref.shape == (5, 3)


def test_quantize_sequential_with_residual_quantizes_the_block(rng, tmp_path):
    fastnn.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                                    nn.Conv2d(8, 8, 3, padding=1))),
                          nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 5)).eval()
    calib = rng.standard_normal((128, 3, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model, calib, check_speed=False)
    kinds = [type(m).__name__ for m in q.layers]
    assert kinds.count("QuantizedSegment") == 3 and "Residual" not in kinds and "Add" not in kinds
    assert "QuantizedJoin" in kinds  # the skip Add runs on uint8
    ref = fastnn.predict(model, calib[:64])
    assert np.linalg.norm(fastnn.predict(q, calib[:64]) - ref) / np.linalg.norm(ref) < 0.05
    assert list(model.state_dict())[0] == "0.weight"  # the float model is untouched


def test_pool_and_flatten_after_a_uint8_joint_run_on_uint8(rng):
    """A chain that starts with MaxPool2d (after a Concat) or Flatten (after an Add) takes the
    joint's uint8 tensor: the joint has no float output and the pool/flatten run as uint8 stages."""
    fastnn.manual_seed(0)
    x = nn.Input((3, 8, 8))
    a = nn.ReLU()(nn.Conv2d(3, 4, 1)(x))
    b = nn.ReLU()(nn.Conv2d(3, 4, 3, padding=1)(x))
    y = nn.ReLU()(nn.Conv2d(8, 8, 3, padding=1)(nn.MaxPool2d(2)(nn.Concat(1)(a, b))))
    z = nn.ReLU()(nn.Conv2d(8, 8, 1)(y)) + y
    model = nn.Model(x, nn.Linear(8 * 16, 5)(nn.Flatten()(z))).eval()
    calib = rng.standard_normal((64, 3, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model, calib, check_speed=False)
    joins = [m for m in q.layers if type(m).__name__ == "QuantizedJoin"]
    assert len(joins) == 2 and not any(j.float_out for j in joins)
    stages = {}
    for _, layer, _, _ in q.nodes():
        if type(layer).__name__ == "QuantizedSegment":
            kinds = [type(s).__name__ for s in layer.qmodel().stages]
            stages[kinds[1]] = (kinds, layer.u8_in)
    for first in ("QMaxPool2d", "QFlatten"):  # uint8 from the joint, then the pass op on uint8
        kinds, u8_in = stages[first]
        assert u8_in is not None and "FloatStage" not in kinds and "Dequantize" not in kinds[:-1]
    ref = fastnn.predict(model, calib)
    assert np.linalg.norm(fastnn.predict(q, calib) - ref) / np.linalg.norm(ref) < 0.05
