"""Losses: values against float64 formulas (torch-free), gradients against central finite
differences, reductions, class weights and label smoothing, bad input, custom losses, and PyTorch
parity (skipped without torch)."""
import numpy as np
import pytest

import fastnn.nn as nn
from tests.reference_layers import EPS32, cross_entropy64, fd_grad, pointwise64

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.15])
def test_cross_entropy_formula_and_fd(isa, rng, reduction, weighted, ls):
    n, c = 6, 5
    x = (rng.standard_normal((n, c)) * 2).astype(np.float32)
    t = rng.integers(0, c, n)
    w = rng.uniform(0.3, 2.0, c) if weighted else None
    fn = nn.CrossEntropyLoss(weight=w, label_smoothing=ls, reduction=reduction)
    value = fn(x, t)
    want = cross_entropy64(x, t, None if w is None else w.astype(np.float32), ls, reduction)
    np.testing.assert_allclose(value, want, rtol=32 * EPS32, atol=32 * EPS32)
    if reduction == "none":
        assert value.shape == (n,)
    else:
        assert isinstance(value, float)
    g = rng.standard_normal(n) if reduction == "none" else 1.0
    dx = fn.backward(np.float32(g)) if reduction == "none" else fn.backward()
    w32 = None if w is None else w.astype(np.float32)
    fd = fd_grad(lambda v: cross_entropy64(v, t, w32, ls, reduction), x, g)
    np.testing.assert_allclose(dx, fd, rtol=1e-4, atol=1e-6)


def test_cross_entropy_targets_any_int_dtype(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    fn = nn.CrossEntropyLoss()
    values = [fn(x, np.array([0, 2, 1, 2], dtype=d)) for d in (np.int64, np.int32, np.uint8)]
    assert values[0] == values[1] == values[2]
    assert fn([[0.0, 1.0]], [1]) == pytest.approx(cross_entropy64([[0.0, 1.0]], [1]), rel=1e-6)


def test_cross_entropy_errors():
    fn = nn.CrossEntropyLoss()
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"CrossEntropyLoss\(\): backward\(\) called before"):
        fn.backward()
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: target: class index 5 at position 1 "
                                         r"is out of range \[0, 3\)"):
        fn(x, np.array([0, 5, 1, 1]))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: target: expected shape \(4,\)"):
        fn(x, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"integer class indices in \[0, 3\)"):
        fn(x, np.array([0.0, 1.5, 1.0, 2.0]))
    with pytest.raises(TypeError, match="integer class indices"):
        fn(x, np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match=r"input: expected shape \(N, C\), got \(2, 3, 4\)"):
        fn(np.zeros((2, 3, 4), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: weight: expected shape \(3,\)"):
        nn.CrossEntropyLoss(weight=np.ones(4))(x, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="1-D"):
        nn.CrossEntropyLoss(weight=np.ones((2, 2)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_whole_float_targets_are_class_indices(rng, dtype):
    x = rng.standard_normal((10, 10)).astype(np.float32)
    t = np.arange(10)[::-1].copy()
    fi, ff = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    assert ff(x, t.astype(dtype)) == fi(x, t)
    np.testing.assert_array_equal(ff.backward(), fi.backward())


@pytest.mark.parametrize("bad, shown", [(2.5, "2.5"), (np.nan, "nan"), (np.inf, "inf"),
                                        (1e30, "1e+30")])
def test_cross_entropy_non_integral_float_targets_say_what_is_expected(bad, shown):
    fn = nn.CrossEntropyLoss()
    t = np.array([0.0, 1.0, bad, 2.0])
    with pytest.raises(ValueError) as e:
        fn(np.zeros((4, 3), np.float32), t)
    msg = str(e.value)
    assert msg == (f"CrossEntropyLoss: target: expected integer class indices in [0, 3) of shape "
                   f"(N,), got the non-integral value {shown} at position 2")
    assert "float32" not in msg and "dtype" not in msg


def test_cross_entropy_probability_targets_refused_with_hint():
    with pytest.raises(ValueError, match=r"class probabilities / one-hot targets are not "
                                         r"supported: pass target.argmax\(1\)"):
        nn.CrossEntropyLoss()(np.zeros((4, 3), np.float32), np.eye(3)[[0, 1, 2, 0]])


@pytest.mark.parametrize("make", [nn.MSELoss, nn.HuberLoss, nn.BCEWithLogitsLoss])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_target_n_for_one_output_per_sample(rng, make, reduction):
    out = rng.standard_normal((6, 1)).astype(np.float32)
    t = rng.uniform(0, 1, 6).astype(np.float32)
    a, b = make(reduction=reduction), make(reduction=reduction)
    np.testing.assert_array_equal(a(out, t), b(out, t[:, None]))
    ga = a.backward(np.ones((6, 1), np.float32)) if reduction == "none" else a.backward()
    gb = b.backward(np.ones((6, 1), np.float32)) if reduction == "none" else b.backward()
    assert ga.shape == (6, 1)
    np.testing.assert_array_equal(ga, gb)
    with pytest.raises(ValueError, match=r"target: expected shape \(6, 1\), got \(6, 2\)"):
        a(out, np.zeros((6, 2), np.float32))
    with pytest.raises(ValueError, match=r"target: expected shape \(6, 1\), got \(5,\)"):
        a(out, np.zeros(5, np.float32))


def test_pointwise_target_n_differs_from_torch_broadcast_on_purpose(torch, rng):
    F = torch.nn.functional
    out = rng.standard_normal((5, 1)).astype(np.float32)
    t = rng.standard_normal(5).astype(np.float32)
    ours = nn.MSELoss()(out, t)
    # Keras' reading (what we do): the (N,) target is the (N, 1) column
    want = F.mse_loss(torch.tensor(out), torch.tensor(t[:, None])).item()
    assert ours == pytest.approx(want, rel=1e-6)
    with pytest.warns(UserWarning):  # PyTorch broadcasts (5, 1) with (5,) to (5, 5)
        theirs = F.mse_loss(torch.tensor(out), torch.tensor(t)).item()
    assert theirs != pytest.approx(ours, rel=1e-3)


def test_failed_call_keeps_previous_forward(rng):
    fn = nn.CrossEntropyLoss()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    fn(x, np.array([0, 1, 2]))
    good = fn.backward()
    with pytest.raises(ValueError):
        fn(x, np.array([0, 1, 9]))
    np.testing.assert_array_equal(fn.backward(), good)


@pytest.mark.parametrize("kind", ["mse", "huber", "bce"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_formula_and_fd(isa, rng, kind, reduction):
    shape = (5, 3)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    if kind == "bce":
        t = rng.uniform(0, 1, shape).astype(np.float32)
        w = rng.uniform(0.5, 2, (5, 1)).astype(np.float32)  # broadcast over columns
        pw = rng.uniform(0.5, 3, 3).astype(np.float32)
        fn = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
        ref = lambda v: pointwise64("bce", v, t, np.broadcast_to(w, shape), pw, reduction=reduction)
    elif kind == "huber":
        t = rng.standard_normal(shape).astype(np.float32)
        fn = nn.HuberLoss(delta=0.8, reduction=reduction)
        ref = lambda v: pointwise64("huber", v, t, delta=float(np.float32(0.8)), reduction=reduction)
    else:
        t = rng.standard_normal(shape).astype(np.float32)
        fn = nn.MSELoss(reduction=reduction)
        ref = lambda v: pointwise64("mse", v, t, reduction=reduction)
    value = fn(x, t)
    np.testing.assert_allclose(value, ref(x), rtol=32 * EPS32, atol=32 * EPS32)
    g = rng.standard_normal(shape) if reduction == "none" else 1.0
    dx = fn.backward(np.float32(g)) if reduction == "none" else fn.backward()
    np.testing.assert_allclose(dx, fd_grad(ref, x, g), rtol=1e-4, atol=1e-6)


def test_pointwise_errors():
    with pytest.raises(ValueError, match=r"MSELoss: target: expected shape \(4, 3\), got \(4,\)"):
        nn.MSELoss()(np.zeros((4, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"HuberLoss\(delta=1.0\): backward\(\) called before"):
        nn.HuberLoss().backward()
    with pytest.raises(ValueError, match="delta must be > 0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="does not broadcast"):
        nn.BCEWithLogitsLoss(weight=np.ones(4))(np.zeros((2, 3), np.float32), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"pos_weight: expected shape \(3,\)"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(2))(np.zeros((2, 3), np.float32), np.zeros((2, 3)))


def test_custom_loss_subclass(rng):
    class L1(nn.Loss):
        def forward(self, output, target):
            self._saved = (output, target)
            return float(np.abs(output - target).mean())

        def backward(self):
            output, target = self._require_forward()
            return np.sign(output - target).astype(np.float32) / output.size

    fn = L1()
    with pytest.raises(ValueError, match=r"L1\(\): backward\(\) called before forward"):
        fn.backward()
    x, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    model = nn.Sequential(nn.Linear(2, 2))
    out = model(x)
    assert fn(out, t) == pytest.approx(np.abs(out - t).mean())
    assert model.backward(fn.backward()).shape == (3, 2)
    assert model[0].weight.grad.any()


def test_reprs():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert repr(nn.HuberLoss(0.5)) == "HuberLoss(delta=0.5)"
    assert nn.CrossEntropyLoss(weight=[1, 2]).get_config()["weight"] == [1.0, 2.0]


def test_matches_torch(torch, rng):
    F = torch.nn.functional
    x = (rng.standard_normal((8, 6)) * 3).astype(np.float32)
    t = rng.integers(0, 6, 8)
    w = rng.uniform(0.2, 2, 6).astype(np.float32)
    for red in REDUCTIONS:
        for weight in (None, w):
            for ls in (0.0, 0.2):
                fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=ls, reduction=red)
                xt = torch.tensor(x, requires_grad=True)
                lt = F.cross_entropy(xt, torch.tensor(t), None if weight is None else torch.tensor(weight),
                                     label_smoothing=ls, reduction=red)
                lt.sum().backward()
                np.testing.assert_allclose(fn(x, t), lt.detach().numpy(), rtol=2e-6, atol=1e-6)
                np.testing.assert_allclose(fn.backward(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    y = rng.standard_normal((8, 6)).astype(np.float32)
    yb = rng.uniform(0, 1, (8, 6)).astype(np.float32)
    pw = rng.uniform(0.5, 2, 6).astype(np.float32)
    bw = rng.uniform(0.5, 2, (8, 1)).astype(np.float32)
    cases = [(nn.MSELoss(reduction=r), lambda a, b, r=r: F.mse_loss(a, b, reduction=r), y) for r in REDUCTIONS]
    cases += [(nn.HuberLoss(0.7, reduction=r), lambda a, b, r=r: F.huber_loss(a, b, reduction=r, delta=0.7), y)
              for r in REDUCTIONS]
    cases += [(nn.BCEWithLogitsLoss(weight=bw, pos_weight=pw, reduction=r),
               lambda a, b, r=r: F.binary_cross_entropy_with_logits(
                   a, b, weight=torch.tensor(bw), pos_weight=torch.tensor(pw), reduction=r), yb)
              for r in REDUCTIONS]
    for ours, theirs, target in cases:
        xt = torch.tensor(x, requires_grad=True)
        lt = theirs(xt, torch.tensor(target))
        lt.sum().backward()
        np.testing.assert_allclose(ours(x, target), lt.detach().numpy(), rtol=2e-6, atol=1e-6,
                                   err_msg=repr(ours))
        np.testing.assert_allclose(ours.backward(), xt.grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=repr(ours))
