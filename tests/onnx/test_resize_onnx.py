"""Resize / Upsample / DepthToSpace / SpaceToDepth in and out of ONNX: single ONNX nodes ->
fastnn equal to onnxruntime (nearest asymmetric/floor, half_pixel with round_prefer_ceil and with
round_prefer_floor where no pixel ties, linear half_pixel / pytorch_half_pixel / align_corners,
scales and sizes, opsets 10 to 19, Upsample opset 9); the forms without a PyTorch rule refused
naming the attribute; fastnn -> ONNX -> onnxruntime equal and back bit-identical."""
import numpy as np
import pytest

from fastnn import nn
from fastnn import onnx as fonnx

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _graph(onnx, op, shape, opset, inits=(), extra_inputs=(), out_dims=None, **attrs):
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node(op, ["x", *extra_inputs], ["y"], **attrs)
    x = h.make_tensor_value_info("x", T.FLOAT, ["n"] + list(shape[1:]))
    y = h.make_tensor_value_info("y", T.FLOAT, out_dims)
    g = h.make_graph([node], op.lower(), [x], [y], initializer=list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _resize(onnx, shape, opset, scales=None, sizes=None, **attrs):
    nh = onnx.numpy_helper
    inits, ins = [], []
    if opset >= 11:  # roi: an empty constant, as torch writes it
        inits.append(nh.from_array(np.zeros(0, np.float32), "roi"))
        ins.append("roi")
    if scales is not None:
        inits.append(nh.from_array(np.asarray([1, 1, *scales], np.float32), "scales"))
        ins.append("scales")
    elif opset < 13:
        inits.append(nh.from_array(np.zeros(0, np.float32), "scales"))
        ins.append("scales")
    else:
        ins.append("")
    if sizes is not None:
        inits.append(nh.from_array(np.asarray([shape[0], shape[1], *sizes], np.int64), "sizes"))
        ins.append("sizes")
    return _graph(onnx, "Resize", shape, opset, inits, ins, **attrs)


NEAREST = [
    ("asymmetric", "floor", (2.0, 3.0), None),
    ("asymmetric", "floor", None, (7, 9)),
    ("asymmetric", "floor", (0.5, 0.5), None),
    ("half_pixel", "round_prefer_ceil", (2.0, 1.5), None),
    ("half_pixel", "round_prefer_ceil", None, (3, 10)),
    ("half_pixel", "round_prefer_floor", (3.0, 2.0), None),  # no ties at integer upscales
    ("pytorch_half_pixel", "round_prefer_ceil", (2.0, 2.0), None),
]


@pytest.mark.parametrize("coord,rounding,scales,sizes", NEAREST)
@pytest.mark.parametrize("opset", [11, 13, 19])
def test_nearest_matches_onnxruntime(onnx, ort_run, rng, coord, rounding, scales, sizes, opset):
    shape = (2, 3, 6, 5)
    m = _resize(onnx, shape, opset, scales, sizes, mode="nearest",
                coordinate_transformation_mode=coord, nearest_mode=rounding)
    model = fonnx.load(m).eval()
    assert any(isinstance(layer, nn.Upsample) for layer in model.modules())
    x = rng.standard_normal(shape).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_array_equal(model(x), want)


@pytest.mark.parametrize("coord", ["half_pixel", "pytorch_half_pixel", "align_corners"])
@pytest.mark.parametrize("scales,sizes", [((2.0, 3.0), None), ((1.5, 0.6), None),
                                          (None, (9, 4)), (None, (1, 7))])
@pytest.mark.parametrize("opset", [11, 18])
def test_linear_matches_onnxruntime(onnx, ort_run, rng, coord, scales, sizes, opset):
    shape = (2, 2, 5, 6)
    m = _resize(onnx, shape, opset, scales, sizes, mode="linear",
                coordinate_transformation_mode=coord)
    if coord == "pytorch_half_pixel" and sizes == (1, 7):
        with pytest.raises(ValueError, match="'pytorch_half_pixel' with an output extent of 1"):
            fonnx.load(m)
        return
    model = fonnx.load(m).eval()
    x = rng.standard_normal(shape).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    # the two compute the source coordinate (up to the input extent) each in float32: weights
    # off by eps * extent, then 4 products summed
    tol = np.finfo(np.float32).eps * (max(shape[2:]) + 4) * np.abs(x).max()
    np.testing.assert_allclose(model(x), want, rtol=0, atol=tol)


def test_upsample_opset9_and_resize_opset10(onnx, ort_run, rng):
    shape = (1, 2, 3, 4)
    nh = onnx.numpy_helper
    sc = nh.from_array(np.asarray([1, 1, 2, 3], np.float32), "scales")
    for op, opset in [("Upsample", 9), ("Resize", 10)]:
        m = _graph(onnx, op, shape, opset, [sc], ["scales"], mode="nearest")
        x = rng.standard_normal(shape).astype(np.float32)
        (want,) = ort_run(m.SerializeToString(), x)
        np.testing.assert_array_equal(fonnx.load(m)(x), want)
    m = _graph(onnx, "Upsample", shape, 9, [sc], ["scales"], mode="linear")
    with pytest.raises(ValueError, match="Upsample mode 'linear' before opset 11"):
        fonnx.load(m)


@pytest.mark.parametrize("attrs,match", [
    (dict(mode="linear", coordinate_transformation_mode="asymmetric"),
     "coordinate_transformation_mode 'asymmetric'"),
    (dict(mode="cubic"), "mode 'cubic'"),
    (dict(mode="nearest", coordinate_transformation_mode="asymmetric",
          nearest_mode="round_prefer_floor"),
     "coordinate_transformation_mode 'asymmetric' and nearest_mode 'round_prefer_floor'"),
    (dict(mode="nearest", coordinate_transformation_mode="tf_crop_and_resize"),
     "tf_crop_and_resize"),
])
def test_unmappable_forms_refused(onnx, attrs, match):
    m = _resize(onnx, (1, 2, 4, 4), 13, (2.5, 2.5), None, **attrs)
    with pytest.raises(ValueError, match=match):
        fonnx.load(m)
    with pytest.raises(ValueError, match="resize the batch or channel axis"):
        fonnx.load(_graph(onnx, "Resize", (1, 2, 4, 4), 13,
                          [onnx.numpy_helper.from_array(np.asarray([1, 2, 2, 2], np.float32),
                                                        "s")], ["", "s"]))


@pytest.mark.parametrize("attrs", [
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    dict(mode="linear", coordinate_transformation_mode="half_pixel")])
def test_kept_axis_with_another_scale_refused(onnx, ort_run, rng, attrs):
    """1.3 on 3 rows gives 3 rows: PyTorch copies them, ONNX resamples. With scale 1 (or a size)
    on that axis the same node loads and matches."""
    with pytest.raises(ValueError, match="give the output extent 3 from 3"):
        fonnx.load(_resize(onnx, (1, 2, 3, 5), 13, (1.3, 1.3), None, **attrs))
    m = _resize(onnx, (1, 2, 3, 5), 13, (1.0, 1.3), None, **attrs)
    x = rng.standard_normal((1, 2, 3, 5)).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_allclose(fonnx.load(m)(x), want, rtol=0, atol=1e-6 * np.abs(x).max())


@pytest.mark.parametrize("op,attrs,shape", [
    ("DepthToSpace", dict(blocksize=2, mode="DCR"), (2, 8, 3, 2)),
    ("DepthToSpace", dict(blocksize=2), (1, 12, 2, 3)),  # DCR by default
    ("DepthToSpace", dict(blocksize=3, mode="CRD"), (2, 9, 2, 1)),
    ("SpaceToDepth", dict(blocksize=2), (2, 3, 4, 6)),
])
def test_depth_space_matches_onnxruntime(onnx, ort_run, rng, op, attrs, shape):
    m = _graph(onnx, op, shape, 13, **attrs)
    model = fonnx.load(m)
    want_type = {"SpaceToDepth": nn.SpaceToDepth}.get(
        op, nn.PixelShuffle if attrs.get("mode") == "CRD" else nn.DepthToSpace)
    assert any(type(layer) is want_type for layer in model.modules())
    x = rng.standard_normal(shape).astype(np.float32)
    (want,) = ort_run(m.SerializeToString(), x)
    np.testing.assert_array_equal(model(x), want)


@pytest.mark.parametrize("opset", [13, 17])
def test_export_to_onnxruntime_and_back(onnx, ort_run, tmp_path, rng, opset):
    x_in = nn.Input((4, 5, 6))
    a = nn.Upsample(scale_factor=2, mode="nearest")(x_in)
    a = nn.Conv2d(4, 8, 3, padding=1)(a)
    b = nn.PixelShuffle(2)(a)                                    # (2, 20, 24)
    c = nn.Upsample(size=(20, 24), mode="bilinear")(nn.Conv2d(4, 2, 1)(x_in))
    d = nn.Upsample(scale_factor=(4, 4), mode="bilinear", align_corners=True)(
        nn.Conv2d(4, 2, 1)(x_in))
    e = nn.Upsample(size=(20, 24), mode="nearest-exact")(x_in)
    y = nn.Concat(1)(b, c, d, e)
    y = nn.PixelUnshuffle(2)(y)
    y = nn.SpaceToDepth(2)(nn.DepthToSpace(2, "DCR")(y))
    model = nn.Model(x_in, y).eval()
    path = tmp_path / "resize.onnx"
    proto = fonnx.export(model, str(path), input_shape=(4, 5, 6), opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Resize") == 4 and ops.count("DepthToSpace") == 2
    back = fonnx.load(str(path)).eval()
    for n in (1, 3):
        xv = rng.standard_normal((n, 4, 5, 6)).astype(np.float32)
        want = model(xv)
        (got,) = ort_run(str(path), xv)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
        np.testing.assert_array_equal(back(xv), want)


def _index_planes(h, w):
    rows = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, 1)
    cols = np.repeat(np.arange(w, dtype=np.float32)[None, :], h, 0)
    return np.stack([rows, cols])[None]


SCALES = (1.5, 0.7, 1.3, 2.5, 3.3, 0.9)


def test_export_non_integer_scales_nearest(onnx, ort_run):
    """A float32 scale can give ONNX another output size (float32(1.3) * 20 = 25.99...) or
    another pixel than PyTorch's d * (1 / s): the exporter writes the nearby float32 scale that
    agrees. Where none exists (0.7: 20 * 0.7 must reach 14 while 7 / 0.7 stays below 10) at most
    one position per axis reads the neighbouring pixel (docs/onnx.md); read on index planes.
    Loaded back, the file gives the layer's own output."""
    exact = 0
    for s in SCALES:
        for n in range(2, 16):
            model = nn.Sequential(nn.Upsample(scale_factor=s))
            x = _index_planes(n, n + 5)
            want = model(x)
            proto = fonnx.export(model, None, input_shape=x.shape[1:])
            (got,) = ort_run(proto.SerializeToString(), x)
            np.testing.assert_array_equal(fonnx.load(proto)(x), want)  # the round trip
            assert got.shape == want.shape, (s, n)
            rows, cols = got[0, 0, :, 0] - want[0, 0, :, 0], got[0, 1, 0, :] - want[0, 1, 0, :]
            for d in (rows, cols):
                assert np.count_nonzero(d) <= 1 and np.abs(d).max() <= 1, (s, n, d)
            exact += not (rows.any() or cols.any())
    assert exact >= 0.95 * len(SCALES) * 14


def test_export_non_integer_scales_bilinear(onnx, ort_run, rng):
    """As above, bilinear: the output size as PyTorch's; an axis whose size does not change is
    copied as PyTorch does (written with scale 1)."""
    for s in SCALES:
        for n in range(2, 16):
            model = nn.Sequential(nn.Upsample(scale_factor=s, mode="bilinear"))
            x = rng.standard_normal((1, 2, n, n + 5)).astype(np.float32)
            want = model(x)
            proto = fonnx.export(model, None, input_shape=x.shape[1:])
            (got,) = ort_run(proto.SerializeToString(), x)
            np.testing.assert_array_equal(fonnx.load(proto)(x), want)  # the round trip
            tol = np.finfo(np.float32).eps * (n + 5 + 4) * np.abs(x).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=tol, err_msg=f"{s}, {n}")
