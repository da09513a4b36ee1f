"""Upsample (with UpsamplingNearest2d, UpsamplingBilinear2d), PixelShuffle, PixelUnshuffle on
(N, C, H, W): PyTorch's names, arguments and index rules. Arithmetic: fastnn._C.resize2d_forward /
resize2d_backward and depth_to_space / space_to_depth (csrc/frame/resize.cpp). No parameters.

Upsample: the output size is ``size`` or floor(extent * scale_factor); the source step per output
pixel is 1 / scale_factor when a scale factor is given (unless ``recompute_scale_factor``), else
extent / output, as torch.nn.functional.interpolate. 'nearest' reads floor(d * step) (clamped),
'nearest-exact' floor((d + 0.5) * step), 'bilinear' interpolates with align_corners or the
half-pixel rule clamped at 0. The backward scatter-adds the output gradient.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, register

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
           "PixelUnshuffle", "DepthToSpace", "SpaceToDepth"]

_MODES = ("nearest", "nearest-exact", "bilinear")


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _size_arg(size, name):
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, (bool, np.bool_)):
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            for v in size)):
        raise TypeError(f"{name}: size: expected an int or a pair of ints, got {size!r}")
    if min(size) < 1 or max(size) > sp.MAX_PARAM:
        raise ValueError(f"{name}: size: expected ints in [1, {sp.MAX_PARAM}], got {size!r}")
    return (int(size[0]), int(size[1]))


def _scale_arg(scale, name):
    if scale is None:
        return None
    pair = (scale, scale) if _real(scale) else scale
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(map(_real, pair))):
        raise TypeError(f"{name}: scale_factor: expected a number or a pair of numbers, got "
                        f"{scale!r}")
    if not all(math.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f"{name}: scale_factor: expected finite values > 0, got {scale!r}")
    return (float(pair[0]), float(pair[1]))


@register
class Upsample(Module):
    """Resize an (N, C, H, W) input to ``size`` or by
    ``scale_factor``; mode 'nearest', 'nearest-exact' or 'bilinear'."""

    _per_call = ("_in_shape",)

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        name = type(self).__name__
        self.size = _size_arg(size, name)
        self.scale_factor = _scale_arg(scale_factor, name)
        if (self.size is None) == (self.scale_factor is None):
            raise ValueError(f"{name}: expected exactly one of size and scale_factor, got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if mode not in _MODES:
            raise ValueError(f"{name}: mode: expected one of {', '.join(map(repr, _MODES))}, got "
                             f"{mode!r}")
        self.mode = mode
        if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"{name}: align_corners: expected None or a bool, got "
                            f"{align_corners!r}")
        if align_corners is not None and mode != "bilinear":
            raise ValueError(f"{name}: align_corners: expected None for mode {mode!r} (only the "
                             f"interpolating mode 'bilinear' takes it), got {align_corners!r}")
        self.align_corners = None if align_corners is None else bool(align_corners)
        if recompute_scale_factor is not None and not isinstance(recompute_scale_factor,
                                                                 (bool, np.bool_)):
            raise TypeError(f"{name}: recompute_scale_factor: expected None or a bool, got "
                            f"{recompute_scale_factor!r}")
        if recompute_scale_factor and self.size is not None:
            raise ValueError(f"{name}: recompute_scale_factor: expected None or False with an "
                             "explicit size, got True")
        self.recompute_scale_factor = (None if recompute_scale_factor is None
                                       else bool(recompute_scale_factor))
        self._in_shape = None

    def _geometry(self, h, w):
        """((OH, OW), the scales passed to the kernel: the factors, or 0 for in / out)."""
        if self.size is not None:
            return self.size, (0.0, 0.0)
        sh, sw = self.scale_factor
        out = (math.floor(h * sh), math.floor(w * sw))
        if min(out) < 1:
            raise ValueError(f"{self!r}: input: scale_factor {self.scale_factor} gives an empty "
                             f"output {out} for an input of {h}x{w}")
        scales = (0.0, 0.0) if self.recompute_scale_factor else (sh, sw)
        return out, scales

    def forward(self, x):
        # 4-D only: PyTorch reads a 3-D input as (N, C, L), a 1-D resize fastnn does not have.
        x = sp.as_input(x, repr(self), (4,))
        size, scales = self._geometry(x.shape[2], x.shape[3])
        y = _C.resize2d_forward(x, size, self.mode, bool(self.align_corners), scales)
        self._in_shape = (x.shape, y.shape, scales)
        return y

    def backward(self, grad_out):
        if self._in_shape is None:
            raise sp.not_run(repr(self))
        in_shape, out_shape, scales = self._in_shape
        g = sp.check_grad(grad_out, out_shape, repr(self))
        return _C.resize2d_backward(g, in_shape, self.mode, bool(self.align_corners), scales)

    def get_config(self):
        cfg = {"size": None if self.size is None else list(self.size),
               "scale_factor": None if self.scale_factor is None else list(self.scale_factor),
               "mode": self.mode, "align_corners": self.align_corners}
        if self.recompute_scale_factor is not None:
            cfg["recompute_scale_factor"] = self.recompute_scale_factor
        return cfg

    def extra_repr(self):
        what = (f"size={self.size}" if self.size is not None
                else f"scale_factor={self.scale_factor}")
        ac = "" if self.align_corners is None else f", align_corners={self.align_corners}"
        return f"{what}, mode='{self.mode}'{ac}"


@register
class UpsamplingNearest2d(Upsample):
    """Upsample(size, scale_factor, mode='nearest')."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")

    def get_config(self):
        return {"size": None if self.size is None else list(self.size),
                "scale_factor": None if self.scale_factor is None else list(self.scale_factor)}


@register
class UpsamplingBilinear2d(UpsamplingNearest2d):
    """Upsample(size, scale_factor, mode='bilinear', align_corners=True)."""

    def __init__(self, size=None, scale_factor=None):
        Upsample.__init__(self, size, scale_factor, mode="bilinear", align_corners=True)


class _DepthSpace(Module):
    _per_call = ("_in_shape",)
    _arg = "upscale_factor"
    _mode = "CRD"

    def __init__(self, factor):
        super().__init__()
        setattr(self, self._arg, sp.positive_int(factor, self._arg, type(self).__name__))
        self._in_shape = None

    @property
    def _block(self):
        return getattr(self, self._arg)

    def _call(self, x, to_space):
        fn = _C.depth_to_space if to_space else _C.space_to_depth
        try:
            return fn(x, self._block, self._mode)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None

    def forward(self, x):
        x = sp.as_input(x, repr(self), (3, 4))
        unbatched = x.ndim == 3
        y = self._call(x[None] if unbatched else x, self._to_space)
        self._in_shape = (unbatched, x.shape, y.shape[1:] if unbatched else y.shape)
        return y[0] if unbatched else y

    def backward(self, grad_out):
        if self._in_shape is None:
            raise sp.not_run(repr(self))
        unbatched, _, out_shape = self._in_shape
        g = sp.check_grad(grad_out, out_shape, repr(self))
        dx = self._call(g[None] if unbatched else g, not self._to_space)
        return dx[0] if unbatched else dx

    def get_config(self):
        return {self._arg: self._block}

    def extra_repr(self):
        return f"{self._arg}={self._block}"


@register
class PixelShuffle(_DepthSpace):
    """(N, C * r * r, H, W) -> (N, C, H * r, W * r), r = upscale_factor (channel c * r * r +
    i * r + j goes to row offset i, column offset j)."""

    _to_space = True

    def __init__(self, upscale_factor):
        super().__init__(upscale_factor)


@register
class PixelUnshuffle(_DepthSpace):
    """The inverse of PixelShuffle: (N, C, H * r, W * r) -> (N, C * r * r, H, W)."""

    _to_space = False
    _arg = "downscale_factor"

    def __init__(self, downscale_factor):
        super().__init__(downscale_factor)


@register
class DepthToSpace(PixelShuffle):
    """ONNX's DepthToSpace: mode 'CRD' is PixelShuffle; 'DCR' (ONNX's default) reads channel
    (i * b + j) * C + c for row offset i, column offset j of output channel c."""

    _arg = "blocksize"

    def __init__(self, blocksize, mode="DCR"):
        if mode not in ("DCR", "CRD"):
            raise ValueError(f"DepthToSpace: mode: expected 'DCR' or 'CRD', got {mode!r}")
        super().__init__(blocksize)
        self._mode = mode

    def get_config(self):
        return {"blocksize": self.blocksize, "mode": self._mode}

    def extra_repr(self):
        return f"blocksize={self.blocksize}, mode='{self._mode}'"


@register
class SpaceToDepth(PixelUnshuffle):
    """ONNX's SpaceToDepth, the inverse of DepthToSpace(mode='DCR'): (N, C, H * b, W * b) ->
    (N, C * b * b, H, W) with the block offset (i, j) of channel c in channel (i * b + j) * C + c."""

    _arg = "blocksize"
    _mode = "DCR"

    def __init__(self, blocksize):
        super().__init__(blocksize)
