"""ZeroPad2d / ConstantPad2d / ReflectionPad2d / ReplicationPad2d / CircularPad2d: forward against
numpy.pad, backward as the exact adjoint (and against PyTorch in the torch stage), bad arguments,
save/load, ONNX export -> onnxruntime -> import."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn

NP_MODE = {nn.ZeroPad2d: "constant", nn.ConstantPad2d: "constant",
           nn.ReflectionPad2d: "reflect", nn.ReplicationPad2d: "edge", nn.CircularPad2d: "wrap"}
PADS = [1, (0, 0, 0, 0), (2, 0, 1, 3), (0, 3, 2, 0), (1, 2, 3, 4)]


def make(cls, p):
    return cls(p, -1.5) if cls is nn.ConstantPad2d else cls(p)


@pytest.mark.parametrize("cls", list(NP_MODE))
@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (1, 1, 7, 5), (3, 7, 6)])
def test_forward_is_numpy_pad_and_backward_its_adjoint(cls, pad, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    layer = make(cls, pad)
    left, right, top, bottom = layer.padding
    width = [(0, 0)] * (len(shape) - 2) + [(top, bottom), (left, right)]
    kw = {"constant_values": layer.value} if NP_MODE[cls] == "constant" else {}
    want = np.pad(x, width, mode=NP_MODE[cls], **kw)
    y = layer(x)
    np.testing.assert_array_equal(y, want)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g).astype(np.float64)
    # <pad(x') - pad(0), g> == <x', dx> for every x' (the padding value is an offset)
    x2 = rng.standard_normal(shape)
    lhs = ((np.pad(x2, width, mode=NP_MODE[cls]) if NP_MODE[cls] != "constant"
            else np.pad(x2, width)) * g).sum()
    assert abs(lhs - (x2 * dx).sum()) < 1e-4 * (1 + abs(lhs))


def test_bad_arguments(rng):
    with pytest.raises(TypeError, match="padding: expected an int or 4 ints"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match="padding: expected values >= 0"):
        nn.ReflectionPad2d(-1)
    with pytest.raises(TypeError, match="value: expected a number"):
        nn.ConstantPad2d(1, "a")
    with pytest.raises(ValueError, match="reflect padding .* must be smaller than the input"):
        nn.ReflectionPad2d(3)(np.ones((1, 1, 3, 5), np.float32))
    layer = nn.ZeroPad2d(1)
    layer(np.ones((1, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 2, 5, 5\)"):
        layer.backward(np.ones((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"circular padding \(0, 0, 6, 0\) must not exceed the "
                                         r"input extent \(3, 5\)"):
        nn.CircularPad2d((6, 0, 0, 0))(np.ones((1, 1, 3, 5), np.float32))
    with pytest.raises(ValueError, match="circular padding"):
        nn.CircularPad1d((0, 4))(np.ones((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="mode: expected 0"):
        _C.pad2d_forward(np.ones((1, 1, 2, 2), np.float32), (1, 1, 1, 1), 5)


def test_save_load_and_repr(tmp_path, rng):
    m = nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.ConstantPad2d(1, 3.0),
                      nn.ReflectionPad2d(1), nn.ReplicationPad2d((0, 2, 0, 1)),
                      nn.CircularPad2d((2, 1, 0, 3)))
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    want = m(x)
    back = fastnn.load(fastnn.save(m, tmp_path / "p.safetensors"))
    np.testing.assert_array_equal(back(x), want)
    assert "value=3" in repr(m[1]) and "(1, 0, 2, 1)" in repr(m[0])
    assert repr(m[4]) == "CircularPad2d((2, 1, 0, 3))"


def test_against_torch(torch, rng):
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    for cls, mode, pads in ((nn.ReflectionPad2d, "reflect", (1, 2, 3, 0)),
                            (nn.ReplicationPad2d, "replicate", (1, 2, 3, 0)),
                            (nn.ZeroPad2d, "constant", (1, 2, 3, 0)),
                            (nn.CircularPad2d, "circular", (1, 2, 3, 0)),
                            (nn.CircularPad2d, "circular", (6, 6, 5, 5))):  # one full wrap
        tx = torch.tensor(x, requires_grad=True)
        ty = F.pad(tx, pads, mode=mode)
        layer = cls(pads)
        np.testing.assert_array_equal(layer(x), ty.detach().numpy())
        g = rng.standard_normal(ty.shape).astype(np.float32)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-6, atol=1e-6)
