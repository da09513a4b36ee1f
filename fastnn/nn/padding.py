"""ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d (NCHW; PyTorch's
names and arguments). The copy and its adjoint are fastnn._C.pad2d_forward / pad2d_backward
(csrc/frame/pad.cpp)."""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, register

__all__ = ["ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"]

_MODES = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}


def _padding(padding, name):
    """PyTorch's order: an int, or (left, right, top, bottom) -> (top, bottom, left, right)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, (bool, np.bool_)):
        p = (int(padding),) * 4
    elif (isinstance(padding, (tuple, list)) and len(padding) == 4
          and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                  for v in padding)):
        p = tuple(int(v) for v in padding)
    else:
        raise TypeError(f"{name}: padding: expected an int or 4 ints (left, right, top, bottom), "
                        f"got {padding!r}")
    if min(p) < 0:
        raise ValueError(f"{name}: padding: expected values >= 0, got {padding!r}")
    left, right, top, bottom = p
    return top, bottom, left, right


class _Unvalued:
    """Mixed in before the pad base of the layers without a fill value: PyTorch's signature
    (padding only)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class _Pad2d(Module):
    _per_call = ("_in_shape",)
    _mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        name = type(self).__name__
        self._pads = _padding(padding, name)
        t, b, l_, r = self._pads
        self.padding = (l_, r, t, b)
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}: value: expected a number, got {value!r}")
        self.value = float(value)
        self._in_shape = None

    def forward(self, x):
        x = sp.as_input(x, repr(self), (3, 4))
        unbatched = x.ndim == 3
        y = _C.pad2d_forward(x[None] if unbatched else x, self._pads, _MODES[self._mode],
                             self.value)
        self._in_shape = (unbatched, x.shape, y.shape[1:] if unbatched else y.shape)
        return y[0] if unbatched else y

    def backward(self, grad_out):
        if self._in_shape is None:
            raise sp.not_run(repr(self))
        unbatched, in_shape, out_shape = self._in_shape
        g = sp.check_grad(grad_out, out_shape, repr(self))
        full = (1,) + tuple(in_shape) if unbatched else tuple(in_shape)
        dx = _C.pad2d_backward(g[None] if unbatched else g, full, self._pads, _MODES[self._mode])
        return dx[0] if unbatched else dx

    def get_config(self):
        return {"padding": list(self.padding)}

    def extra_repr(self):
        return f"{tuple(self.padding)}"


@register
class ZeroPad2d(_Unvalued, _Pad2d):
    """Pads with zeros: padding an int or (left, right, top, bottom)."""


@register
class ConstantPad2d(_Pad2d):
    """Pads with ``value``."""

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}

    def extra_repr(self):
        return f"padding={tuple(self.padding)}, value={self.value:g}"


@register
class ReflectionPad2d(_Unvalued, _Pad2d):
    """Mirror padding without repeating the edge (each pad smaller than the input extent)."""

    _mode = "reflect"


@register
class ReplicationPad2d(_Unvalued, _Pad2d):
    """The edge value repeated."""

    _mode = "replicate"


@register
class CircularPad2d(_Unvalued, _Pad2d):
    """Wrap-around padding: the rows / columns from the opposite edge (each pad at most the input
    extent, as PyTorch's)."""

    _mode = "circular"
