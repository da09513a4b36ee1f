"""quantize / quantize_dynamic / QuantizedModel on a small MLP trained on digits: accuracy within
1 percentage point, bits independent of ISA and threads, layers kept in float and why, save/load,
report and bad input."""
import os
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.quant import QuantizationWarning, QuantizedModel, quantize, quantize_dynamic, report

F32 = np.float32


@pytest.fixture(scope="module")
def digits():
    return fastnn.datasets.load_digits()


@pytest.fixture(scope="module")
def mlp(digits):
    (xtr, ytr), _ = digits
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), xtr, ytr,
               epochs=12, batch_size=32, verbose=0, seed=0)
    return model.eval()


def accuracy(out, y):
    return float((np.asarray(out).argmax(1) == y).mean())


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_accuracy_within_one_point(digits, mlp, method):
    (xtr, _), (xte, yte) = digits
    q = quantize(mlp, xtr, method=method, check_speed=False)
    assert q.float_layers == []
    assert q.int8_layers == ["1+2", "4+5", "6"]
    acc_f, acc_q = accuracy(mlp(xte), yte), accuracy(q(xte), yte)
    assert acc_f > 0.9
    assert abs(acc_q - acc_f) <= 0.01, (acc_f, acc_q)


def test_per_tensor_weights_and_dynamic(digits, mlp):
    (xtr, _), (xte, yte) = digits
    acc_f = accuracy(mlp(xte), yte)
    q = quantize(mlp, xtr, per_channel=False, check_speed=False)
    assert abs(accuracy(q(xte), yte) - acc_f) <= 0.01
    qd = quantize_dynamic(mlp)
    assert qd.mode == "dynamic" and qd.int8_layers == ["1+2", "4+5", "6"]
    out = qd(xte)
    assert abs(accuracy(out, yte) - acc_f) <= 0.01
    ref = mlp(xte)
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()


def test_model_left_alone_and_pipeline_uint8(digits, mlp):
    (xtr, _), (xte, _) = digits
    state = {k: v.copy() for k, v in mlp.state_dict().items()}
    q = quantize(mlp, xtr[:300], check_speed=False)
    for k, v in mlp.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    kinds = [type(s).__name__ for s in q.stages]
    assert kinds == ["FloatStage", "Quantize", "QLinear", "QLinear", "QLinear"]
    t = xte[:9]
    for s in q.stages[:-1]:
        t = s.run(t)
    assert t.dtype == np.uint8  # uint8 between the quantized layers, float32 logits at the end
    assert q.stages[-1].run(t).dtype == F32
    assert "float layers: none" in repr(q) and "Dropout" in repr(q)


def test_results_never_alias_the_workspace(digits, mlp):
    (xtr, _), (xte, _) = digits
    q = quantize(mlp, xtr[:300], check_speed=False)
    a = q(xte[:50])
    keep = a.copy()
    q(xte[50:100])
    np.testing.assert_array_equal(a, keep)
    # a model ending in a float reshape of an int8 tensor returns a copy, not a buffer view
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 6),
                          nn.Sigmoid(), nn.Flatten()).eval()
    q = quantize(model, xtr[:100], check_speed=False)
    a = q(xte[:5])
    keep = a.copy()
    q(xte[5:10])
    np.testing.assert_array_equal(a, keep)


def test_model_inputs_outside_the_calibrated_range_saturate(digits, mlp):
    (xtr, _), (xte, _) = digits
    q = quantize(mlp, xtr, check_speed=False)
    scale, zp = q.stages[1].scale, q.stages[1].zero_point
    top = (255 - zp) * scale  # the largest representable input
    big = xte * 40 - 10       # far outside [0, 1] on both sides
    np.testing.assert_array_equal(q(big), q(np.clip(big, -zp * scale, top)))
    assert np.all(np.isfinite(q(big)))


def test_bits_independent_of_isa_threads_and_chunks(digits, mlp, isa, threads):
    (xtr, _), (xte, _) = digits
    q = quantize(mlp, xtr[:500], check_speed=False)
    fastnn.set_num_threads(1)
    ref = q(xte)
    fastnn.set_num_threads(2)
    np.testing.assert_array_equal(q(xte), ref)
    np.testing.assert_array_equal(q.predict(xte, batch_size=37), ref)
    # every ISA path computes the same bits (the other ISAs' results are compared to generic)
    before = fastnn.get_isa()
    fastnn.set_isa("generic")
    try:
        np.testing.assert_array_equal(q(xte), ref)
    finally:
        fastnn.set_isa(before)


def test_unquantizable_layers_stay_float(digits, mlp):
    (xtr, _), (xte, _) = digits
    fastnn.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 16),
                          nn.ReLU(), nn.Linear(16, 10), nn.Softmax()).eval()
    q = quantize(model, xtr, check_speed=False)
    assert q.float_layers == ["2", "6"]
    rec = {r["name"]: r for r in q.layers}
    assert "Sigmoid" in rec["2"]["reason"] and rec["2"]["status"] == "float"
    kinds = [type(s).__name__ for s in q.stages]
    assert kinds == ["FloatStage", "Quantize", "QLinear", "FloatStage", "Quantize", "QLinear",
                     "QLinear", "FloatStage"]
    assert "float layers: 2, 6" in repr(q)
    out, ref = q(xte), model(xte)
    assert np.abs(out - ref).max() < 0.05


def test_inaccurate_layers_fall_back_with_a_warning(digits, mlp):
    (xtr, _), (xte, _) = digits
    with pytest.warns(QuantizationWarning, match=r"kept in float: output error") as rec:
        q = quantize(mlp, xtr[:200], max_error=1e-6, check_speed=False)
    assert [str(w.message).split()[2] for w in rec] == ["1+2", "4+5", "6"]
    assert q.float_layers == ["1+2", "4+5", "6"]
    assert all(r["error"] > 1e-6 for r in q.layers if r["status"] == "float"
               and r["name"] != "0")
    np.testing.assert_allclose(q(xte), mlp(xte), rtol=0, atol=1e-5)


def test_speed_check_records_times(digits, mlp):
    (xtr, _), _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        q = quantize(mlp, xtr[:256], repeats=2)
    for r in q.layers:
        if r["name"] in ("1+2", "4+5", "6"):
            assert r["time_int8"] > 0 and r["time_float"] > 0
            if r["status"] == "float":  # kept float because it (or the model) measured slower
                assert "slower than float" in r["reason"]
                if r["reason"].startswith("int8 slower"):
                    assert r["time_int8"] > r["time_float"]


def test_save_load_round_trip_and_size(digits, mlp, tmp_path):
    (xtr, _), (xte, _) = digits
    q = quantize(mlp, xtr, check_speed=False)
    fp, qp = tmp_path / "f.fnn", tmp_path / "q.fnn"
    fastnn.save(mlp, fp)
    fastnn.save(q, qp, extra={"note": "int8"})
    ratio = os.path.getsize(qp) / os.path.getsize(fp)
    assert ratio <= 0.3, ratio
    q2 = fastnn.load(qp)
    assert isinstance(q2, QuantizedModel)
    np.testing.assert_array_equal(q2(xte), q(xte))
    assert repr(q2) == repr(q) and q2.layers == q.layers
    ck = fastnn.load_checkpoint(qp)
    assert ck.extra == {"note": "int8"}
    np.testing.assert_array_equal(ck.model(xte[:5]), q(xte[:5]))
    qd = quantize_dynamic(mlp)
    fastnn.save(qd, qp)
    np.testing.assert_array_equal(fastnn.load(qp)(xte), qd(xte))
    with pytest.raises(TypeError, match="optimizer"):
        fastnn.save(q, qp, optimizer={"lr": 1})


def test_load_refuses_unknown_stage(digits, mlp, tmp_path):
    import json

    import safetensors.numpy as stn

    from fastnn.io import _checksum
    (xtr, _), _ = digits
    q = quantize(mlp, xtr[:100], check_speed=False)
    p = tmp_path / "q.fnn"
    fastnn.save(q, p)
    with open(p, "rb") as f:
        data = f.read()
    tensors = stn.load(data)
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + n])["__metadata__"]
    arch = json.loads(meta["architecture"])
    arch["config"]["spec"]["stages"][2]["class"] = "os.system"
    meta["architecture"] = json.dumps(arch)
    meta["checksum"] = _checksum(tensors, meta)
    p.write_bytes(stn.save(tensors, metadata=meta))
    with pytest.raises(ValueError, match="unknown stage class 'os.system'"):
        fastnn.load(p)


def test_report(digits, mlp, capsys):
    (xtr, _), (xte, yte) = digits
    q = quantize(mlp, xtr, check_speed=False)
    r = report(mlp, q, xte, yte, repeats=2)
    assert r["accuracy_float"] == accuracy(mlp(xte), yte)
    assert r["accuracy_int8"] == accuracy(q(xte), yte)
    assert 0.2 < r["size_ratio"] < 0.3
    assert r["samples_per_s_int8"] > 0 and r["samples_per_s_float"] > 0
    rows = {row["name"]: row for row in r["layers"]}
    assert rows["3"]["status"] == "removed"
    for name in ("1+2", "4+5", "6"):
        assert 0 < rows[name]["error"] < 0.05 and rows[name]["time_int8"] > 0
    assert rows["6"]["error"] >= rows["6"]["calibration_error"] * 0.5
    text = capsys.readouterr().out
    assert "accuracy: float" in text and "Linear(64, 256)+ReLU" in text
    with pytest.raises(ValueError, match="y: expected 359 class labels"):
        report(mlp, q, xte, yte[:10], verbose=False)


# -- bad input ------------------------------------------------------------------------------------
def test_bad_calibration_data(mlp):
    with pytest.raises(ValueError, match=r"calibration_data: empty \(shape \(0, 1, 8, 8\)\)"):
        quantize(mlp, np.zeros((0, 1, 8, 8), F32))
    with pytest.raises(ValueError, match=r"calibration_data: expected shape \(N, \.\.\.\) with "
                                         r"64 values .* got \(10, 5\)"):
        quantize(mlp, np.zeros((10, 5), F32))
    with pytest.raises(ValueError, match="calibration_data: expected an array of samples"):
        quantize(mlp, np.zeros(64, F32))
    with pytest.raises(ValueError, match="calibration_data"):
        quantize(mlp, [["a", "b"]])
    bad = np.zeros((4, 1, 8, 8), F32)
    bad[1, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="input: contains NaN"):
        quantize(mlp, bad)
    head = nn.Sequential(nn.Linear(64, 10))
    with pytest.raises(ValueError, match=r"calibration_data: expected shape \(N, 64\) .* "
                                         r"got \(3, 1, 8, 8\)"):
        quantize(head, np.zeros((3, 1, 8, 8), F32))


def test_bad_model_and_options(mlp, digits):
    (xtr, _), _ = digits
    with pytest.raises(ValueError, match="model: no quantizable layer"):
        quantize(nn.Sequential(nn.Flatten(), nn.ReLU()), xtr)
    with pytest.raises(ValueError, match="model: no Linear layer"):
        quantize_dynamic(nn.Sequential(nn.ReLU()))
    with pytest.raises(TypeError, match="model"):
        quantize(lambda x: x, xtr)
    with pytest.raises(ValueError, match="method"):
        quantize(mlp, xtr, method="kl")
    with pytest.raises(ValueError, match="batch_size"):
        quantize(mlp, xtr, batch_size=0)
    with pytest.raises(ValueError, match="max_error"):
        quantize(mlp, xtr, max_error=-1)


def test_wrong_input_shape(mlp, digits):
    (xtr, _), (xte, _) = digits
    q = quantize(mlp, xtr[:100], check_speed=False)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 1, 8, 8\), got \(3, 64\)"):
        q(np.zeros((3, 64), F32))
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 1, 8, 8\), got \(1, 8, 8\)"):
        q.predict(xte[0])
    qd = quantize_dynamic(nn.Sequential(nn.Linear(64, 10)))
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 64\), got \(2, 63\)"):
        qd(np.zeros((2, 63), F32))
