"""quantize on small CNNs trained on digits: Conv2d (im2col and 1x1) + BatchNorm folding + ReLU,
uint8 MaxPool2d / GlobalAvgPool2d, the NHWC Flatten feeding a Linear with permuted weights;
accuracy within 1 percentage point, bits independent of ISA and threads, save/load."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.quant import quantize, report

F32 = np.float32


@pytest.fixture(scope="module")
def digits():
    return fastnn.datasets.load_digits()


def train(model, digits, epochs):
    (xtr, ytr), _ = digits
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), xtr, ytr,
               epochs=epochs, batch_size=32, verbose=0, seed=0)
    return model.eval()


@pytest.fixture(scope="module")
def cnn(digits):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(32, 10))
    return train(model, digits, 8)


@pytest.fixture(scope="module")
def gap_cnn(digits):
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), nn.Conv2d(16, 24, 1), nn.ReLU(),
                          nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.ReLU(),
                          nn.GlobalAvgPool2d(), nn.Linear(32, 10))
    return train(model, digits, 10)


def accuracy(out, y):
    return float((np.asarray(out).argmax(1) == y).mean())


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_cnn_accuracy_within_one_point(digits, cnn, method):
    (xtr, _), (xte, yte) = digits
    q = quantize(cnn, xtr, method=method, check_speed=False)
    assert q.float_layers == []
    kinds = [type(s).__name__ for s in q.stages]
    # the uint8 max poolings run inside the convolutions before them
    assert kinds == ["Quantize", "QConv2d", "QConv2d", "QFlatten", "QLinear", "QLinear"]
    assert q.stages[1].pool == [[2, 2], [2, 2], [0, 0]] and q.stages[1].op_end == 1
    assert q.stages[3].out_layout == ["flat_nhwc", 16, 2, 2]  # the Linear reads NHWC order
    assert {r["name"]: r["status"] for r in q.layers}["3"] == "int8"
    acc_f, acc_q = accuracy(cnn(xte), yte), accuracy(q(xte), yte)
    assert acc_f > 0.85
    assert abs(acc_q - acc_f) <= 0.01, (acc_f, acc_q)
    assert np.abs(q(xte) - cnn(xte)).max() < 0.1 * np.abs(cnn(xte)).max()


def test_gap_and_1x1_cnn(digits, gap_cnn):
    (xtr, _), (xte, yte) = digits
    q = quantize(gap_cnn, xtr, check_speed=False)
    kinds = [type(s).__name__ for s in q.stages]
    assert kinds == ["Quantize", "QConv2d", "QConv2d", "QConv2d", "QGlobalAvgPool2d", "QLinear"]
    assert q.stages[2].packed.k == 16  # the 1x1 convolution reads the NHWC image in place
    acc_f, acc_q = accuracy(gap_cnn(xte), yte), accuracy(q(xte), yte)
    assert acc_f > 0.8
    assert abs(acc_q - acc_f) <= 0.01, (acc_f, acc_q)


def test_cnn_bits_independent_of_isa_and_threads(digits, cnn, isa, threads):
    (xtr, _), (xte, _) = digits
    q = quantize(cnn, xtr[:300], check_speed=False)
    fastnn.set_num_threads(2)
    ref = q(xte)
    fastnn.set_num_threads(1)
    np.testing.assert_array_equal(q(xte), ref)
    before = fastnn.get_isa()
    fastnn.set_isa("generic")
    try:
        np.testing.assert_array_equal(q(xte), ref)
    finally:
        fastnn.set_isa(before)


def test_cnn_float_boundaries(digits, cnn):
    """A layer kept in float inside the CNN: uint8 NHWC tensors are dequantized back to NCHW
    for it and quantized again after it."""
    (xtr, _), (xte, _) = digits
    fastnn.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 6, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 10)).eval()
    q = quantize(model, xtr, check_speed=False)
    assert q.float_layers == ["1"]
    kinds = [type(s).__name__ for s in q.stages]
    assert kinds == ["Quantize", "QConv2d", "Dequantize", "FloatStage", "Quantize", "QConv2d",
                     "QFlatten", "QLinear"]
    ref = model(xte)
    assert np.abs(q(xte) - ref).max() < 0.05 * np.abs(ref).max()


def test_cnn_save_load_and_report(digits, cnn, tmp_path):
    (xtr, _), (xte, yte) = digits
    q = quantize(cnn, xtr, check_speed=False)
    fastnn.save(q, tmp_path / "q.fnn")
    q2 = fastnn.load(tmp_path / "q.fnn")
    np.testing.assert_array_equal(q2(xte), q(xte))
    r = report(cnn, q, xte, yte, repeats=1, verbose=False)
    assert r["accuracy_int8"] == accuracy(q(xte), yte)
    rows = {row["name"]: row for row in r["layers"]}
    assert rows["0+1+2"]["status"] == "int8" and rows["0+1+2"]["error"] < 0.05
    assert rows["3"]["error"] == rows["0+1+2"]["error"]  # the pooling fused into the conv


def test_cnn_bad_input(digits, cnn):
    (xtr, _), (xte, _) = digits
    with pytest.raises(ValueError, match=r"calibration_data: expected shape \(N, 1, H, W\)"):
        quantize(cnn, xtr.reshape(len(xtr), 64))
    q = quantize(cnn, xtr[:50], check_speed=False)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 1, 8, 8\), got \(2, 1, 9, 9\)"):
        q(np.zeros((2, 1, 9, 9), F32))
