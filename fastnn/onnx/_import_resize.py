"""ONNX Resize / Upsample / DepthToSpace / SpaceToDepth -> nn.Upsample, nn.PixelShuffle,
nn.DepthToSpace, nn.SpaceToDepth (the converters of ``_import.CONVERTERS``).

Resize maps onto PyTorch's rules where they agree with ONNX's:
- mode nearest: coordinate_transformation_mode asymmetric with nearest_mode floor is PyTorch's
  'nearest' (what torch.onnx writes). Any other pair is accepted when, on the model's spatial
  extents, ONNX's source indices equal those of 'nearest-exact' or 'nearest' (e.g. half_pixel
  with round_prefer_ceil is 'nearest-exact'); otherwise a ValueError names both attributes.
- mode linear: half_pixel and pytorch_half_pixel are bilinear with align_corners=False (ONNX
  clamps the source coordinate into the input like PyTorch), align_corners is align_corners=True;
  asymmetric and the tf_* modes have no PyTorch equivalent and are refused.
- scales or sizes constant (sizes may hold the free batch size, as torch writes them), the batch
  and channel axes unscaled, 4-D inputs.
"""
import numpy as np

from fastnn import nn
from fastnn.onnx._fold import Unsupported


def _s(v, default):
    v = default if v is None else v
    return v.decode() if isinstance(v, bytes) else v


def _opt_const(ctx, node, i, what):
    if len(node.input) <= i or not node.input[i]:
        return None
    v = ctx.const(node.input[i], what)
    return None if np.size(v) == 0 else np.asarray(v)


def _nice(scale):
    """A float32 scale as the shortest decimal that round-trips (the number torch exported)."""
    return float(np.format_float_positional(np.float32(scale), unique=True, trim="-"))


def _full(values, axes, fill, what):
    """scales / sizes given for `axes` (ONNX >= 18) as a 4-entry vector."""
    if axes is None:
        if len(values) != 4:
            raise Unsupported(f"{what} of length {len(values)} (4-D inputs only)")
        return list(values)
    out = [fill] * 4
    for a, v in zip(axes, values):
        out[int(a) % 4] = v
    return out


def _geometry(ctx, node, attrs, x, scales_at, sizes_at):
    """(("size", (oh, ow)) or ("scale", (sh, sw)), (oh, ow)) from the constant scales / sizes."""
    if x.ndim != 4:
        raise Unsupported(f"{node.op_type} on a {x.ndim}-D input (4-D (N, C, H, W) only)")
    axes = attrs.get("axes")
    h, w = x.shape[2], x.shape[3]
    scales = _opt_const(ctx, node, scales_at, "scales") if scales_at is not None else None
    if scales is None and "scales" in attrs:  # Upsample opset 7
        scales = np.asarray(attrs["scales"], np.float32)
    sizes = _opt_const(ctx, node, sizes_at, "sizes") if sizes_at is not None else None
    if (scales is None) == (sizes is None):
        raise Unsupported(f"{node.op_type}: expected exactly one of scales and sizes (constants)")
    if sizes is not None:
        if _s(attrs.get("keep_aspect_ratio_policy"), "stretch") != "stretch":
            raise Unsupported(f"keep_aspect_ratio_policy "
                              f"{_s(attrs['keep_aspect_ratio_policy'], '')!r} (stretch only)")
        full = _full(list(sizes.ravel()), axes, None, "sizes")
        if full[1] is not None and int(full[1]) != x.shape[1]:
            raise Unsupported(f"sizes {list(sizes.ravel())} changes the channel count")
        out = (int(full[2]), int(full[3]))
        return ("size", out), out
    full = _full([float(v) for v in np.asarray(scales, np.float32).ravel()], axes, 1.0, "scales")
    if full[0] != 1.0 or full[1] != 1.0:
        raise Unsupported(f"scales {full} resize the batch or channel axis")
    s32 = np.asarray(full[2:], np.float32)
    out = tuple(int(np.floor(np.float32(n) * s)) for n, s in zip((h, w), s32))
    nice = (_nice(s32[0]), _nice(s32[1]))
    if out != (int(np.floor(h * nice[0])), int(np.floor(w * nice[1]))):
        raise Unsupported(f"scales {full[2:]}: ONNX's float32 output size {out} differs from "
                          f"PyTorch's for the input {h}x{w}")
    if min(out) < 1:
        raise Unsupported(f"scales {full[2:]} give an empty output {out}")
    return ("scale", nice), out


def _upsample(geom, **kw):
    kind, value = geom
    return nn.Upsample(size=value, **kw) if kind == "size" else nn.Upsample(scale_factor=value,
                                                                              **kw)


def onnx_nearest(n_in, n_out, scale, coord, rounding):
    """ONNX's source indices along one axis (float32 as onnxruntime), or None if not defined."""
    d = np.arange(n_out, dtype=np.float32)
    s = np.float32(scale)
    if coord == "asymmetric":
        x = d / s
    elif coord == "half_pixel":
        x = (d + np.float32(0.5)) / s - np.float32(0.5)
    elif coord == "pytorch_half_pixel":
        x = (d + np.float32(0.5)) / s - np.float32(0.5) if n_out > 1 else np.zeros(1, np.float32)
    elif coord == "tf_half_pixel_for_nn":
        x = (d + np.float32(0.5)) / s
    elif coord == "align_corners":
        x = (d * np.float32((n_in - 1) / (n_out - 1)) if n_out > 1
             else np.zeros(1, np.float32))
    else:
        return None
    fl = np.floor(x)
    tie = x == fl + np.float32(0.5)
    if rounding == "floor":
        i = fl
    elif rounding == "ceil":
        i = np.ceil(x)
    elif rounding == "round_prefer_floor":  # np.round: exact (no x + 0.5 rounding) off ties
        i = np.where(tie, fl, np.round(x))
    elif rounding == "round_prefer_ceil":
        i = np.where(tie, fl + 1, np.round(x))
    else:
        return None
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def layer_indices(layer, h, w):
    """The source (row, column) indices a nearest nn.Upsample reads: run it on index planes."""
    rows = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, 1)
    cols = np.repeat(np.arange(w, dtype=np.float32)[None, :], h, 0)
    y = layer(np.stack([rows, cols])[None])
    return y[0, 0, :, 0].astype(np.int64), y[0, 1, 0, :].astype(np.int64)


def _check_kept_axes(x, geom, out, doubled):
    """PyTorch copies an axis whose size a scale keeps (and, for 'nearest', reads d >> 1 on one
    it doubles) whatever the scale; ONNX resamples with the scale: refused unless it is 1 (2)."""
    kind, value = geom
    if kind != "scale":
        return
    for n, o, s in zip(x.shape[2:], out, value):
        if (o == n and s != 1.0) or (doubled and o == 2 * n and s != 2.0):
            raise Unsupported(f"scales {list(value)} give the output extent {o} from {n}, which "
                              f"PyTorch's rule copies{' or halves' if doubled else ''} while "
                              f"ONNX resamples it with the scale {s}")


def _nearest(attrs, x, geom, out):
    coord = _s(attrs.get("coordinate_transformation_mode"), "half_pixel")
    rounding = _s(attrs.get("nearest_mode"), "round_prefer_floor")
    kind, value = geom
    if coord == "asymmetric" and rounding == "floor":
        _check_kept_axes(x, geom, out, doubled=True)
        return _upsample(geom)
    h, w = x.shape[2], x.shape[3]
    scale = value if kind == "scale" else (out[0] / h, out[1] / w)
    want = (onnx_nearest(h, out[0], scale[0], coord, rounding),
            onnx_nearest(w, out[1], scale[1], coord, rounding))
    if want[0] is not None and want[1] is not None:
        for mode in ("nearest-exact", "nearest"):
            layer = _upsample(geom, mode=mode)
            got = layer_indices(layer, h, w)
            if all(np.array_equal(a, b) for a, b in zip(got, want)):
                return layer
    raise Unsupported(f"mode nearest with coordinate_transformation_mode {coord!r} and "
                      f"nearest_mode {rounding!r}: no PyTorch rule ('nearest' = asymmetric + "
                      f"floor, 'nearest-exact' = half_pixel + round_prefer_ceil) reads the same "
                      f"pixels for {h}x{w} -> {out[0]}x{out[1]}")


def _linear(attrs, x, geom, out):
    coord = _s(attrs.get("coordinate_transformation_mode"), "half_pixel")
    if int(attrs.get("antialias", 0)) and (out[0] < x.shape[2] or out[1] < x.shape[3]):
        raise Unsupported("antialias=1 when downsampling (PyTorch's bilinear does not filter)")
    if coord in ("half_pixel", "pytorch_half_pixel"):
        _check_kept_axes(x, geom, out, doubled=False)
        if coord == "pytorch_half_pixel" and 1 in out and (x.shape[2] > 1 or x.shape[3] > 1):
            raise Unsupported("coordinate_transformation_mode 'pytorch_half_pixel' with an output "
                              "extent of 1 (ONNX reads pixel 0, PyTorch the centre)")
        align = False
    elif coord == "align_corners":
        align = True
    else:
        raise Unsupported(f"mode linear with coordinate_transformation_mode {coord!r} (PyTorch's "
                          "bilinear has half_pixel / pytorch_half_pixel and align_corners)")
    return _upsample(geom, mode="bilinear", align_corners=align)


def resize(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if node.op_type == "Upsample":
        geom, out = _geometry(ctx, node, attrs, x, 1 if len(node.input) > 1 else None, None)
        attrs = dict(attrs, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif ctx.opset < 11:
        geom, out = _geometry(ctx, node, attrs, x, 1, None)
        attrs = dict(attrs, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        geom, out = _geometry(ctx, node, attrs, x, 2, 3)
        if _s(attrs.get("coordinate_transformation_mode"), "") == "tf_crop_and_resize":
            raise Unsupported("coordinate_transformation_mode 'tf_crop_and_resize' (roi)")
    mode = _s(attrs.get("mode"), "nearest")
    if mode == "nearest":
        layer = _nearest(attrs, x, geom, out)
    elif mode in ("linear", "bilinear"):
        if node.op_type == "Upsample" or ctx.opset < 11:
            raise Unsupported(f"{node.op_type} mode {mode!r} before opset 11 (asymmetric "
                              "coordinates: no PyTorch bilinear rule)")
        layer = _linear(attrs, x, geom, out)
    else:
        raise Unsupported(f"mode {mode!r} (nearest and linear only)")
    if geom[0] == "scale":
        layer = _exported_factor(layer, x.shape[2], x.shape[3], out)
    return layer(x)


def _exported_factor(layer, h, w, out):
    """The layer with the shortest decimal scale factor from which fastnn's export writes the
    same float32 scales (1.3 for 1.3000001: a fastnn -> ONNX -> fastnn round trip gives the
    same layer back), or the layer itself."""
    from fastnn.onnx._export_resize import resize_attrs, written_scales
    attrs = resize_attrs(layer)
    written = [float(np.float32(v)) for v in layer.scale_factor]  # the file's float32 scales
    for digits in range(1, 8):
        factor = tuple(round(v, digits) for v in layer.scale_factor)
        if min(factor) <= 0:
            continue
        cand = nn.Upsample(scale_factor=factor, mode=layer.mode, align_corners=layer.align_corners)
        try:
            if cand._geometry(h, w)[0] != tuple(out):
                continue
        except ValueError:
            continue
        if written_scales(cand, h, w, attrs) == written:
            return cand
    return layer


def depth_to_space(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if x.ndim != 4:
        raise Unsupported(f"{node.op_type} on a {x.ndim}-D input")
    b = int(attrs.get("blocksize", 0))
    if b < 1:
        raise Unsupported(f"blocksize {b} (a required attribute >= 1)")
    if node.op_type == "SpaceToDepth":
        return nn.SpaceToDepth(b)(x)
    mode = _s(attrs.get("mode"), "DCR")
    return (nn.PixelShuffle(b) if mode == "CRD" else nn.DepthToSpace(b, mode))(x)


CONVERTERS = {"Resize": resize, "Upsample": resize, "DepthToSpace": depth_to_space,
              "SpaceToDepth": depth_to_space}
