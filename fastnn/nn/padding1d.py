"""ZeroPad1d, ConstantPad1d, ReflectionPad1d, ReplicationPad1d, CircularPad1d over (N, C, L) or
(C, L) (PyTorch's names and arguments): the 2-D pad frame (fastnn._C.pad2d_forward / pad2d_backward,
csrc/frame/pad.cpp) on the (N, C, 1, L) view."""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial1d as s1
from fastnn.nn.module import register
from fastnn.nn.padding import _MODES, _Pad2d, _Unvalued

__all__ = ["ZeroPad1d", "ConstantPad1d", "ReflectionPad1d", "ReplicationPad1d", "CircularPad1d"]


def _lr(padding, name):
    """An int or (left, right) -> (left, right, 0, 0) in the 2-D layers' PyTorch order."""
    if (isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            for v in padding)):
        return (int(padding[0]), int(padding[1]), 0, 0)
    if isinstance(padding, numbers.Integral) and not isinstance(padding, (bool, np.bool_)):
        return (int(padding), int(padding), 0, 0)
    raise TypeError(f"{name}: padding: expected an int or 2 ints (left, right), got {padding!r}")


class _Pad1d(_Pad2d):
    def __init__(self, padding, value=0.0):
        super().__init__(_lr(padding, type(self).__name__), value)
        self.padding = self.padding[:2]

    def forward(self, x):
        x4, unbatched = s1.as_input(x, repr(self))
        if self._mode == "reflect" and max(self._pads) >= x4.shape[3]:
            raise ValueError(f"{self!r}: input: reflect padding {max(self._pads)} must be smaller "
                             f"than the input length {x4.shape[3]}")
        y = s1.out3(_C.pad2d_forward(x4, self._pads, _MODES[self._mode], self.value), unbatched)
        self._in_shape = ((unbatched, y.shape), x4.shape, np.shape(x))
        return y

    def backward(self, grad_out):
        g = s1.grad4(grad_out, self._in_shape and self._in_shape[0], repr(self))
        _, shape4, in_shape = self._in_shape
        return _C.pad2d_backward(g, shape4, self._pads, _MODES[self._mode]).reshape(in_shape)


@register
class ZeroPad1d(_Unvalued, _Pad1d):
    """Pads with zeros: padding an int or (left, right)."""


@register
class ConstantPad1d(_Pad1d):
    """Pads with ``value``."""

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}

    def extra_repr(self):
        return f"padding={tuple(self.padding)}, value={self.value:g}"


@register
class ReflectionPad1d(_Unvalued, _Pad1d):
    """Mirror padding without repeating the edge (each pad smaller than the input length)."""

    _mode = "reflect"


@register
class ReplicationPad1d(_Unvalued, _Pad1d):
    """The edge value repeated."""

    _mode = "replicate"


@register
class CircularPad1d(_Unvalued, _Pad1d):
    """Wrap-around padding: the values from the opposite end (each pad at most the input
    length, as PyTorch's)."""

    _mode = "circular"
