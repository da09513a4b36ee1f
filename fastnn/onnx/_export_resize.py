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


def _resize(w, layer, x, value, where):
    if layer.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    elif layer.mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                     nearest_mode="round_prefer_ceil")
    else:
        coord = "align_corners" if layer.align_corners else "half_pixel"
        attrs = dict(mode="linear", coordinate_transformation_mode=coord)
    size, scales = layer._geometry(value.shape[2], value.shape[3])
    if scales != (0.0, 0.0):
        sc = w.init(f"{where}.scales", [1.0, 1.0] + list(scales), np.float32)
        return w.node("Resize", [x, "", sc], where, **attrs)
    # sizes: the input's (N, C) then the output's (H, W), N read at run time (dynamic batch)
    (shape,) = w.node("Shape", [x], where + "_shape")
    (nc,) = w.node("Slice", [shape, w.init(f"{where}.start", [0], np.int64),
                             w.init(f"{where}.end", [2], np.int64)], where + "_nc")
    (sizes,) = w.node("Concat", [nc, w.init(f"{where}.hw", list(size), np.int64)],
                      where + "_sizes", axis=0)
    return w.node("Resize", [x, "", "", sizes], where, **attrs)
