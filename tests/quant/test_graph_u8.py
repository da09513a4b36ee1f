"""Quantized graph models: Add and Concat joints on uint8 (fastnn/quant/graph_u8.py) -- which
joints qualify, requantization of inputs with other scales, accuracy against the float model and
against the float-joint path, save/load, and files written before the joints existed."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.quant import graph_u8, quantize
from fastnn.quant.graph_u8 import QuantizedJoin
from tests.reference import add_u8_ref, concat_u8_ref


def _named(layer, name):
    layer.name = name
    return layer


def _cnn(seed=0):
    """Inception-style concat of a 1x1 and a 3x3 branch (different output ranges), then a skip
    Add of two convolutions of the concat, then a head."""
    fastnn.manual_seed(seed)
    x = nn.Input((3, 8, 8))
    a = nn.ReLU()(nn.Conv2d(3, 6, 1)(x))
    conv_b = nn.Conv2d(3, 6, 3, padding=1)
    conv_b.weight.data *= 4.0  # a wider range than branch a: another scale
    b = nn.ReLU()(conv_b(x))
    y = _named(nn.Concat(1), "cat")(a, b)
    y = _named(nn.Add(), "skip")(nn.ReLU()(nn.Conv2d(12, 8, 3, padding=1)(y)),
                                 nn.Conv2d(12, 8, 1)(y))
    y = nn.ReLU()(nn.Conv2d(8, 8, 1)(y))
    return nn.Model(x, nn.Linear(8 * 64, 4)(nn.Flatten()(y))).eval()


def _mlp(seed=0):
    fastnn.manual_seed(seed)
    x = nn.Input((10,))
    a = nn.ReLU()(nn.Linear(10, 12)(x))
    b = nn.ReLU()(nn.Linear(10, 5)(x))
    h = _named(nn.Concat(1), "cat")(a, b)
    return nn.Model(x, nn.Linear(17, 3)(nn.ReLU()(nn.Linear(17, 17)(h)))).eval()


def _quantize(model, calib, joins=True, monkeypatch=None):
    if not joins:
        monkeypatch.setattr(graph_u8, "uint8_joins", lambda q, *args: q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize(model, calib, check_speed=False)


def _calib(rng, shape, n=128):
    return rng.standard_normal((n,) + shape).astype(np.float32)


def test_concat_and_add_run_on_uint8(rng, monkeypatch):
    model = _cnn()
    calib = _calib(rng, (3, 8, 8))
    q = _quantize(model, calib)
    joins = {n: m for n, m, _, _ in q.nodes() if isinstance(m, QuantizedJoin)}
    assert set(joins) == {"cat", "skip"}
    assert not any(isinstance(m, (nn.Add, nn.Concat)) for m in q.layers)
    cat, skip = joins["cat"], joins["skip"]
    assert cat.kind == "concat" and cat.layout == "nhwc" and not cat.float_out
    assert cat.in_q[0] != cat.in_q[1]  # the branches' scales differ: requantized in the kernel
    assert skip.kind == "add" and not skip.float_out  # read by the next int8 segment
    segs = [m for m in q.layers if type(m).__name__ == "QuantizedSegment"]
    assert sum(m.u8_out for m in segs) == 4 and sum(m.u8_in is not None for m in segs) == 3
    ref = fastnn.predict(model, calib[:64])
    got = fastnn.predict(q, calib[:64])
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.05
    # against the float-joint path: the same segments, the joints' float round trips removed
    old = _quantize(model, calib, joins=False, monkeypatch=monkeypatch)
    assert any(isinstance(m, nn.Concat) for m in old.layers)
    base = fastnn.predict(old, calib[:64])
    assert np.linalg.norm(got - base) / np.linalg.norm(ref) < 0.03


def test_joint_values_are_the_kernels_on_the_segments_bytes(rng):
    model = _cnn()
    calib = _calib(rng, (3, 8, 8))
    q = _quantize(model, calib)
    seen = {}
    for name, layer, _, _ in q.nodes():
        if isinstance(layer, QuantizedJoin):
            fwd = layer.forward

            def spy(*xs, _fwd=fwd, _name=name):
                seen[_name] = (xs, _fwd(*xs))
                return seen[_name][1]
            object.__setattr__(layer, "forward", spy)
    fastnn.predict(q, calib[:8])
    for name, layer, _, _ in q.nodes():
        if isinstance(layer, QuantizedJoin):
            layer.__dict__.pop("forward")
    xs, y = seen["cat"]
    assert all(v.dtype == np.uint8 and v.shape[-1] == 6 for v in xs)  # NHWC uint8
    cat = q.cat
    np.testing.assert_array_equal(y, concat_u8_ref(list(xs), *zip(*cat.in_q), *cat.out_q))
    xs, y = seen["skip"]
    (sa, za), (sb, zb) = q.skip.in_q
    np.testing.assert_array_equal(y, add_u8_ref(xs[0], sa, za, xs[1], sb, zb, *q.skip.out_q))


def test_dense_concat_is_plain_uint8(rng):
    model = _mlp()
    calib = _calib(rng, (10,))
    q = _quantize(model, calib)
    assert q.cat.kind == "concat" and q.cat.layout == "plain" and not q.cat.float_out
    ref = fastnn.predict(model, calib)
    assert np.linalg.norm(fastnn.predict(q, calib) - ref) / np.linalg.norm(ref) < 0.05


def test_a_float_input_keeps_the_joint_float_and_outputs_are_float(rng):
    fastnn.manual_seed(1)
    x = nn.Input((10,))
    a = nn.ReLU()(nn.Linear(10, 6)(x))
    y = _named(nn.Concat(1), "cat")(a, nn.Tanh()(x))  # the Tanh branch has no int8 layer
    z = _named(nn.Add(), "out_add")(nn.Linear(16, 4)(y), nn.Linear(16, 4)(y))
    model = nn.Model(x, z).eval()
    calib = _calib(rng, (10,))
    q = _quantize(model, calib)
    assert type(q.cat) is nn.Concat  # a float input: the joint stays float
    assert isinstance(q.out_add, QuantizedJoin) and q.out_add.float_out  # a model output
    got = fastnn.predict(q, calib)
    assert got.dtype == np.float32
    ref = fastnn.predict(model, calib)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.05


def test_save_load_round_trip_and_old_files(rng, tmp_path, monkeypatch):
    model = _cnn()
    calib = _calib(rng, (3, 8, 8))
    q = _quantize(model, calib)
    fastnn.save(q, tmp_path / "q.fnn")
    back = fastnn.load(tmp_path / "q.fnn")
    assert isinstance(back.cat, QuantizedJoin) and back.cat.in_q == q.cat.in_q
    np.testing.assert_array_equal(fastnn.predict(back, calib[:32]), fastnn.predict(q, calib[:32]))
    # a file written by the float-joint writer (segments without u8 ends) still loads
    old = _quantize(model, calib, joins=False, monkeypatch=monkeypatch)
    fastnn.save(old, tmp_path / "old.fnn")
    back = fastnn.load(tmp_path / "old.fnn")
    assert isinstance(back.cat, nn.Concat)
    np.testing.assert_array_equal(fastnn.predict(back, calib[:32]),
                                  fastnn.predict(old, calib[:32]))


def test_quantized_join_checks_its_config():
    with pytest.raises(ValueError, match="kind"):
        QuantizedJoin("mul", [[0.1, 0], [0.1, 0]], [0.1, 0], "nhwc")
    with pytest.raises(ValueError, match="in_q"):
        QuantizedJoin("add", [[0.1, 0]], [0.1, 0], "nhwc")
    with pytest.raises(ValueError, match=r"in_q\[1\]"):
        QuantizedJoin("concat", [[0.1, 0], [0.1, 256]], [0.1, 0], "plain")
    with pytest.raises(ValueError, match="out_q"):
        QuantizedJoin("concat", [[0.1, 0]], [float("nan"), 0], "plain")
    with pytest.raises(ValueError, match="layout"):
        QuantizedJoin("add", [[0.1, 0], [0.1, 0]], [0.1, 0], "nchw")
    j = QuantizedJoin("add", [[0.1, 0], [0.1, 0]], [0.1, 0], "plain")
    with pytest.raises(ValueError, match="expected 2 inputs"):
        j(np.zeros((1, 2), np.uint8))
