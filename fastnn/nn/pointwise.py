"""Element-wise math on graph tensors (ONNX Exp/Log/Sqrt/Pow/Max/Min) and Tile (issue 14).

Each is one or two numpy ufunc passes forward and backward (the same vectorised C loops a
fastnn kernel would run for a single pass over memory); the backward of Exp and Sqrt works from
the output. Two-input layers broadcast as numpy (and ONNX) do and sum the gradient back over the
broadcast dimensions.
"""
import numbers

import numpy as np

from fastnn.nn.merge import _arrays, _broadcast_shape, _grad, _unbroadcast
from fastnn.nn.module import Module, register
from fastnn.nn.reshape import _float32

__all__ = ["Exp", "Log", "Sqrt", "Pow", "Maximum", "Minimum", "Tile"]


class _Pointwise(Module):
    _per_call = ("_x", "_y")

    def __init__(self):
        super().__init__()
        self._x = self._y = None

    def forward(self, x):
        x = _float32(x, repr(self))
        with np.errstate(all="ignore"):
            y = self._f(x).astype(np.float32, copy=False)
        self._x, self._y = x, y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        g = _grad(grad_out, self._y.shape, repr(self))
        with np.errstate(all="ignore"):
            return self._df(g, self._x, self._y).astype(np.float32, copy=False)

    def get_config(self):
        return {}


@register
class Exp(_Pointwise):
    """exp(x) (torch.exp); gradient g * y."""

    _f = staticmethod(np.exp)

    @staticmethod
    def _df(g, x, y):
        return g * y


@register
class Log(_Pointwise):
    """log(x) (torch.log); gradient g / x."""

    _f = staticmethod(np.log)

    @staticmethod
    def _df(g, x, y):
        return g / x


@register
class Sqrt(_Pointwise):
    """sqrt(x) (torch.sqrt); gradient g / (2 y)."""

    _f = staticmethod(np.sqrt)

    @staticmethod
    def _df(g, x, y):
        return g * (np.float32(0.5) / y)


class _Binary(Module):
    _per_call = ("_xs", "_y")

    def __init__(self):
        super().__init__()
        self._xs = self._y = None

    def forward(self, a, b):
        name = type(self).__name__
        a, b = _arrays((a, b), name, 2)
        _broadcast_shape([a.shape, b.shape], name)
        with np.errstate(all="ignore"):
            y = self._f(a, b).astype(np.float32, copy=False)
        self._xs, self._y = (a, b), y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        a, b = self._xs
        g = _grad(grad_out, self._y.shape, repr(self))
        with np.errstate(all="ignore"):
            ga, gb = self._df(g, a, b, self._y)
        return (_unbroadcast(ga.astype(np.float32, copy=False), a.shape),
                _unbroadcast(gb.astype(np.float32, copy=False), b.shape))

    def get_config(self):
        return {}


@register
class Pow(_Binary):
    """a ** b element-wise (torch.pow with two tensors); gradients g * b * a ** (b - 1) and
    g * y * log(a) (0 where y is 0, as PyTorch)."""

    _f = staticmethod(np.power)

    @staticmethod
    def _df(g, a, b, y):
        ga = g * b * np.power(a, b - 1)
        gb = np.where(y == 0, np.float32(0), g * y * np.log(a))
        return ga, gb


@register
class Maximum(_Binary):
    """max(a, b) element-wise (torch.maximum); at ties each input gets half the gradient."""

    _f = staticmethod(np.maximum)

    @staticmethod
    def _df(g, a, b, y):
        w = np.where(a > b, np.float32(1), np.where(a == b, np.float32(0.5), np.float32(0)))
        return g * w, g * (np.float32(1) - w)


@register
class Minimum(_Binary):
    """min(a, b) element-wise (torch.minimum); at ties each input gets half the gradient."""

    _f = staticmethod(np.minimum)

    @staticmethod
    def _df(g, a, b, y):
        w = np.where(a < b, np.float32(1), np.where(a == b, np.float32(0.5), np.float32(0)))
        return g * w, g * (np.float32(1) - w)


@register
class Tile(Module):
    """Repeat the input ``repeats[i]`` times along each non-batch axis i + 1 (torch.Tensor.repeat
    with 1 for the batch axis; ONNX Tile). Fewer repeats than axes repeat the trailing axes; more
    add leading axes after the batch one. Backward: the sum over the copies."""

    _per_call = ("_in_shape", "_tiled")

    def __init__(self, repeats):
        super().__init__()
        if isinstance(repeats, (numbers.Integral, str, bytes)) or not hasattr(repeats, "__iter__"):
            raise ValueError(f"Tile: repeats: expected a sequence of ints, got {repeats!r}")
        reps = tuple(repeats)
        if not reps or any(isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1
                           for r in reps):
            raise ValueError(f"Tile: repeats: expected one or more ints >= 1, got {repeats!r}")
        self.repeats = tuple(int(r) for r in reps)
        self._in_shape = self._tiled = None

    def forward(self, x):
        x = _float32(x, repr(self))
        if x.ndim < 1:
            raise ValueError(f"{self!r}: input: expected a batched array (N, ...), got shape "
                             f"{x.shape}")
        inner = x.shape[1:]
        lead = len(self.repeats) - len(inner)
        shape = (x.shape[0],) + (1,) * max(lead, 0) + inner
        reps = (1,) * (len(shape) - len(self.repeats)) + self.repeats
        self._in_shape, self._tiled = x.shape, (shape, reps)
        return np.tile(x.reshape(shape), reps)

    def backward(self, grad_out):
        if self._in_shape is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        shape, reps = self._tiled
        out = tuple(d * r for d, r in zip(shape, reps))
        g = _grad(grad_out, out, repr(self))
        split = tuple(v for r, d in zip(reps, shape) for v in (r, d))
        summed = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)), dtype=np.float32)
        return summed.reshape(self._in_shape)

    def get_config(self):
        return {"repeats": list(self.repeats)}

    def extra_repr(self):
        return f"repeats={self.repeats}"
