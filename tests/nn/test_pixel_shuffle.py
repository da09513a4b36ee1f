"""PixelShuffle / PixelUnshuffle against torch (forward and backward, bit-exact: a permutation),
DepthToSpace (DCR and CRD) and SpaceToDepth against numpy renderings of ONNX's definitions;
factors 1, 2, 3, extents of 1, batch 1, unbatched (C, H, W); bad arguments; save/load."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn


def d2s_ref(x, b, mode):
    """ONNX's DepthToSpace (its reshape / transpose definition)."""
    n, c, h, w = x.shape
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


def s2d_ref(x, b):
    """ONNX's SpaceToDepth."""
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return t.reshape(n, c * b * b, h // b, w // b)


CASES = [("PixelShuffle", (2, 8, 3, 5), 2), ("PixelShuffle", (1, 9, 4, 1), 3),
         ("PixelShuffle", (3, 18, 1, 2), 3), ("PixelShuffle", (1, 5, 3, 4), 1),
         ("PixelShuffle", (12, 2, 3), 2),
         ("PixelUnshuffle", (2, 2, 6, 10), 2), ("PixelUnshuffle", (1, 1, 9, 3), 3),
         ("PixelUnshuffle", (2, 3, 1, 1), 1), ("PixelUnshuffle", (3, 4, 6), 2)]


@pytest.mark.parametrize("cls,shape,r", CASES)
def test_matches_torch(torch, cls, shape, r, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn, cls)(r)(xt)
    layer = getattr(nn, cls)(r)
    y = layer(x)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(layer.backward(g), xt.grad.numpy())


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("shape,b", [((2, 12, 3, 2), 2), ((1, 9, 1, 4), 3), ((1, 4, 2, 3), 1)])
def test_depth_to_space_matches_onnx_definition(mode, shape, b, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    layer = nn.DepthToSpace(b, mode)
    y = layer(x)
    np.testing.assert_array_equal(y, d2s_ref(x, b, mode))
    # the backward is the inverse permutation: it maps the output back onto the input
    np.testing.assert_array_equal(layer.backward(y), x)


@pytest.mark.parametrize("shape,b", [((2, 3, 4, 6), 2), ((1, 2, 3, 9), 3)])
def test_space_to_depth_matches_onnx_definition(shape, b, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    layer = nn.SpaceToDepth(b)
    y = layer(x)
    np.testing.assert_array_equal(y, s2d_ref(x, b))
    np.testing.assert_array_equal(layer.backward(y), x)
    np.testing.assert_array_equal(nn.DepthToSpace(b, "DCR")(y), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="upscale_factor: expected an int >= 1, got 0"):
        nn.PixelShuffle(0)
    with pytest.raises(TypeError, match="downscale_factor: expected an int, got 2.0"):
        nn.PixelUnshuffle(2.0)
    with pytest.raises(ValueError, match="mode: expected 'DCR' or 'CRD', got 'dcr'"):
        nn.DepthToSpace(2, "dcr")
    with pytest.raises(ValueError, match=r"channels divisible by block\*\*2 \(4\), got 6"):
        nn.PixelShuffle(2)(np.zeros((1, 6, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"height and width divisible by block \(2\), got 3x4"):
        nn.PixelUnshuffle(2)(np.zeros((1, 1, 3, 4), np.float32))
    with pytest.raises(ValueError, match="mode: expected 'CRD' or 'DCR'"):
        _C.depth_to_space(np.zeros((1, 4, 2, 2), np.float32), 2, "XYZ")
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.PixelShuffle(2).backward(np.zeros((1, 1, 2, 2), np.float32))


def test_config_save_load(tmp_path, rng):
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.PixelShuffle(2),
                          nn.PixelUnshuffle(2), nn.DepthToSpace(2, "DCR"), nn.SpaceToDepth(2))
    x = rng.standard_normal((2, 1, 3, 4)).astype(np.float32)
    fastnn.save(model, tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    np.testing.assert_array_equal(back(x), model(x))
    assert [repr(m) for m in back][1:] == ["PixelShuffle(upscale_factor=2)",
                                          "PixelUnshuffle(downscale_factor=2)",
                                          "DepthToSpace(blocksize=2, mode='DCR')",
                                          "SpaceToDepth(blocksize=2)"]
