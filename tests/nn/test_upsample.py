"""nn.Upsample (nearest, nearest-exact, bilinear with align_corners True and False) against
torch.nn.Upsample, forward and backward: integer, non-integer and downsampling scale factors,
per-axis factors, explicit sizes, extents of 1, batch 1, recompute_scale_factor; the backward
independent of the thread count; bad arguments; save/load and get_config."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn

EPS = np.finfo(np.float32).eps

# (input shape, Upsample keyword arguments without mode)
CASES = [
    ((2, 3, 5, 4), {"scale_factor": 2}),
    ((1, 2, 4, 5), {"scale_factor": 3}),
    ((2, 2, 7, 6), {"scale_factor": 1.5}),
    ((1, 3, 10, 13), {"scale_factor": 0.7}),
    ((2, 1, 6, 5), {"scale_factor": (2, 3)}),
    ((1, 2, 5, 7), {"scale_factor": (0.5, 1.3)}),
    ((2, 2, 5, 6), {"size": (7, 9)}),
    ((1, 3, 9, 8), {"size": (4, 3)}),
    ((1, 2, 1, 5), {"scale_factor": 2}),
    ((2, 2, 6, 1), {"size": (11, 3)}),
    ((1, 1, 5, 4), {"size": (1, 1)}),
    ((1, 1, 3, 3), {"size": 3}),
    ((2, 2, 5, 5), {"scale_factor": 1.7, "recompute_scale_factor": True}),
]
MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]


def _pair(torch, shape, kwargs, mode, align, rng):
    net = torch.nn.Upsample(mode=mode, align_corners=align, **kwargs)
    layer = nn.Upsample(mode=mode, align_corners=align, **kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    return net, layer, x


@pytest.mark.parametrize("shape,kwargs", CASES)
@pytest.mark.parametrize("mode,align", MODES)
def test_matches_torch(torch, shape, kwargs, mode, align, rng):
    net, layer, x = _pair(torch, shape, kwargs, mode, align, rng)
    xt = torch.tensor(x, requires_grad=True)
    yt = net(xt)
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == tuple(yt.shape)
    if mode == "bilinear":  # 4 products summed: a few roundings of max|x|
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0,
                                   atol=4 * EPS * np.abs(x).max())
    else:  # a copy
        np.testing.assert_array_equal(y, yt.detach().numpy())
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    dx = layer.backward(g)
    # each input pixel sums K output gradients (K <= the number of outputs reading it)
    k = max(1, int(np.ceil(y.shape[2] / x.shape[2])) * int(np.ceil(y.shape[3] / x.shape[3])))
    k = 4 * k if mode == "bilinear" else k
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0,
                               atol=4 * EPS * np.sqrt(k) * max(1.0, np.abs(xt.grad.numpy()).max()))


def test_aliases_match_torch(torch, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for ours, theirs, kw in [(nn.UpsamplingNearest2d, torch.nn.UpsamplingNearest2d,
                              {"scale_factor": 3}),
                             (nn.UpsamplingBilinear2d, torch.nn.UpsamplingBilinear2d,
                              {"size": (7, 6)})]:
        np.testing.assert_allclose(ours(**kw)(x), theirs(**kw)(torch.tensor(x)).numpy(),
                                   rtol=0, atol=4 * EPS * np.abs(x).max())


@pytest.mark.parametrize("mode,align", MODES)
def test_backward_independent_of_threads(mode, align, rng):
    x = rng.standard_normal((3, 5, 9, 7)).astype(np.float32)
    layer = nn.Upsample(scale_factor=2.3, mode=mode, align_corners=align)
    g = rng.standard_normal(layer(x).shape).astype(np.float32)
    before = fastnn.get_num_threads()
    try:
        out = []
        for t in (1, 2, 3):
            fastnn.set_num_threads(t)
            layer(x)
            out.append(layer.backward(g))
    finally:
        fastnn.set_num_threads(before)
    for dx in out[1:]:
        np.testing.assert_array_equal(dx, out[0])


def test_backward_is_the_adjoint(rng):
    """<resize(x), g> == <x, resize_backward(g)>, bilinear with an uneven scale."""
    x = rng.standard_normal((2, 2, 6, 5)).astype(np.float64)
    layer = nn.Upsample(size=(9, 4), mode="bilinear", align_corners=False)
    y = layer(x.astype(np.float32)).astype(np.float64)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g.astype(np.float32)).astype(np.float64)
    assert abs((y * g).sum() - (x * dx).sum()) < 1e-4 * np.abs(y * g).sum()


def test_bad_arguments():
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample(size=3, scale_factor=2)
    with pytest.raises(ValueError, match="mode: expected one of .*got 'bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners: expected None for mode 'nearest'"):
        nn.Upsample(scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match=r"scale_factor: expected finite values > 0, got -2"):
        nn.Upsample(scale_factor=-2)
    with pytest.raises(TypeError, match="size: expected an int or a pair of ints, got 'a'"):
        nn.Upsample(size="a")
    with pytest.raises(ValueError, match=r"size: expected ints in \[1, .*got \(0, 3\)"):
        nn.Upsample(size=(0, 3))
    with pytest.raises(ValueError, match=r"input: expected a 4-D array .*got shape \(2, 3, 4\)"):
        nn.Upsample(scale_factor=2)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="gives an empty output"):
        nn.Upsample(scale_factor=0.1)(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.Upsample(scale_factor=2).backward(np.zeros((1, 1, 2, 2), np.float32))
    layer = nn.Upsample(scale_factor=2)
    layer(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 1, 4, 4\)"):
        layer.backward(np.zeros((1, 1, 4, 3), np.float32))
    with pytest.raises(ValueError, match="mode: expected 'nearest', 'nearest-exact' or"):
        _C.resize2d_forward(np.zeros((1, 1, 2, 2), np.float32), (3, 3), "area", False, (0, 0))
    with pytest.raises(ValueError, match="scales: expected finite values >= 0"):
        _C.resize2d_forward(np.zeros((1, 1, 2, 2), np.float32), (3, 3), "nearest", False,
                            (-1.0, 0))


def test_config_save_load(tmp_path, rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1),
                          nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=True),
                          nn.UpsamplingNearest2d(size=(5, 4)), nn.UpsamplingBilinear2d(scale_factor=2))
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    path = tmp_path / "m.fnn"
    fastnn.save(model, path)
    back = fastnn.load(path)
    np.testing.assert_array_equal(back(x), model(x))
    assert repr(model[1]) == ("Upsample(scale_factor=(2.0, 1.5), mode='bilinear', "
                              "align_corners=True)")
    assert type(back[2]) is nn.UpsamplingNearest2d and type(back[3]) is nn.UpsamplingBilinear2d
