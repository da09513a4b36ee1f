"""Export of nn.Upsample (Resize with the attributes torch.onnx writes) and of the depth <-> space
layers (DepthToSpace / SpaceToDepth; PixelUnshuffle as Reshape-Transpose-Reshape, since ONNX's
SpaceToDepth has only the DCR order)."""
import numpy as np

from fastnn import nn


def write(w, layer, x, value, where):
    """The output names of `layer` (an Upsample or a depth <-> space layer) on input name x."""
    if isinstance(layer, nn.Upsample):
        return _resize(w, layer, x, value, where)
    if isinstance(layer, nn.PixelShuffle):
        return w.node("DepthToSpace", [x], where, blocksize=layer._block, mode=layer._mode)
    if isinstance(layer, nn.SpaceToDepth):
        return w.node("SpaceToDepth", [x], where, blocksize=layer._block)
    # PixelUnshuffle: (N, C, H r, W r) -> (N, C, H, r, W, r) -> (N, C, r, r, H, W) -> (N, C r r, H, W)
    _, c, h, wd = value.shape
    r = layer._block
    s1 = w.init(f"{where}.shape", [-1, c, h // r, r, wd // r, r], np.int64)
    (a,) = w.node("Reshape", [x, s1], where + "_split")
    (t,) = w.node("Transpose", [a], where + "_perm", perm=[0, 1, 3, 5, 2, 4])
    s2 = w.init(f"{where}.shape_out", [-1, c * r * r, h // r, wd // r], np.int64)
    return w.node("Reshape", [t, s2], where)


def resize_attrs(layer):
    """The Resize attributes torch.onnx writes for the layer's mode."""
    if layer.mode == "nearest":
        return dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor")
    if layer.mode == "nearest-exact":
        return dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                    nearest_mode="round_prefer_ceil")
    coord = "align_corners" if layer.align_corners else "half_pixel"
    return dict(mode="linear", coordinate_transformation_mode=coord)


def _resize(w, layer, x, value, where):
    attrs = resize_attrs(layer)
    scales = written_scales(layer, value.shape[2], value.shape[3], attrs)
    if scales is not None:
        sc = w.init(f"{where}.scales", [1.0, 1.0] + list(scales), np.float32)
        return w.node("Resize", [x, "", sc], where, **attrs)
    # sizes: the input's (N, C) then the output's (H, W), N read at run time (dynamic batch)
    size, _ = layer._geometry(value.shape[2], value.shape[3])
    (shape,) = w.node("Shape", [x], where + "_shape")
    (nc,) = w.node("Slice", [shape, w.init(f"{where}.start", [0], np.int64),
                             w.init(f"{where}.end", [2], np.int64)], where + "_nc")
    (sizes,) = w.node("Concat", [nc, w.init(f"{where}.hw", list(size), np.int64)],
                      where + "_sizes", axis=0)
    return w.node("Resize", [x, "", "", sizes], where, **attrs)


def _candidates(scale):
    """float32 values around `scale`: itself, then 1..8 steps above and below, alternating."""
    c = np.float32(scale)
    up, down = c, c
    yield c
    for _ in range(8):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(0))
        yield up
        yield down


def _scale32(scale, n, out, same):
    """A float32 scale near `scale` whose output size is `out` both as ONNX's shape inference
    (double) and as onnxruntime (float32) compute floor(n * scale), preferably one for which
    same(scale) holds (a nearest mode: ONNX reads the layer's pixels), or None. (float32(1.3) *
    20 = 25.99999...: one step up gives 26, as PyTorch's 1.3 does.)"""
    sized = [c for c in _candidates(scale)
             if int(np.floor(n * float(c))) == out and int(np.floor(np.float32(n) * c)) == out]
    for c in sized:
        if same(c):
            return float(c)
    # none reads exactly the layer's pixels: the nearest one with the right size (which differs
    # from PyTorch at the few positions where the two roundings fall on either side of a pixel
    # boundary; the output size would shift the whole axis)
    return float(sized[0]) if sized else None


def written_scales(layer, h, w, attrs):
    """The scales to write, or None: write the output size (ONNX's scale is then out / in)."""
    size, factors = layer._geometry(h, w)
    if factors == (0.0, 0.0):
        return None
    if layer.mode == "bilinear":
        same = [lambda c: True] * 2
    else:
        from fastnn.onnx._import_resize import layer_indices, onnx_nearest
        got = layer_indices(layer, h, w)
        coord, rounding = attrs["coordinate_transformation_mode"], attrs["nearest_mode"]
        same = [lambda c, g=g, n=n, o=o: np.array_equal(g, onnx_nearest(n, o, c, coord, rounding))
                for g, n, o in zip(got, (h, w), size)]
    scales = [_scale32(f, n, o, s) for f, n, o, s in zip(factors, (h, w), size, same)]
    # PyTorch's own special cases: an axis whose size does not change is copied (nearest and
    # bilinear), one that doubles reads d >> 1 (nearest): ONNX's scales 1 and 2 exactly
    for k, (n, o) in enumerate(zip((h, w), size)):
        if o == n or (o == 2 * n and layer.mode == "nearest"):
            scales[k] = float(o // n)
    return None if None in scales else scales
