"""Shape and constant-operand layers: ``Reshape`` (Keras-style: one sample's target shape, the
batch dimension kept), ``Transpose`` (a permutation of the non-batch axes), ``AddConstant`` and
``MulConstant`` (an input plus / times a fixed array that broadcasts as numpy does; the array is a
buffer, saved in the state_dict, not trained). They carry imported ONNX graphs (``fastnn.onnx``):
a Reshape, a Transpose, and an Add/Mul/Sub/Div whose other operand is a constant."""
import numbers

import numpy as np

from fastnn.nn.merge import _unbroadcast
from fastnn.nn.module import Module, new_array, register

__all__ = ["Reshape", "Transpose", "AddConstant", "MulConstant"]


def _ints(values, name, layer, least=-1):
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < least:
            raise ValueError(f"{layer}: {name}: expected ints >= {least}, got {list(values)!r}")
        out.append(int(v))
    return tuple(out)


def _float32(x, layer):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{layer}: input: expected a floating-point array, got dtype {x.dtype}")
    return x if x.dtype == np.float32 else x.astype(np.float32)


@register
class Reshape(Module):
    """Reshape each sample to ``shape`` (the batch dimension is kept; one entry may be -1, as in
    ``torch.reshape``). Backward reshapes the gradient back."""

    _per_call = ("_in_shape",)

    def __init__(self, shape):
        super().__init__()
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
        self.shape = _ints(shape, "shape", "Reshape")
        if sum(d == -1 for d in self.shape) > 1:
            raise ValueError(f"Reshape: shape: at most one -1, got {self.shape}")
        self._in_shape = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"{self!r}: input: expected a batch of samples, got a scalar")
        try:
            y = x.reshape((x.shape[0],) + self.shape)
        except ValueError:
            raise ValueError(f"{self!r}: input: cannot reshape samples of shape {x.shape[1:]} "
                             f"to {self.shape}") from None
        self._in_shape = x.shape
        return y

    def backward(self, grad_out):
        if self._in_shape is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        g = np.asarray(grad_out, dtype=np.float32)
        if g.size != int(np.prod(self._in_shape)):
            raise ValueError(f"{self!r}: grad_out: expected {int(np.prod(self._in_shape))} "
                             f"elements, got shape {g.shape}")
        return g.reshape(self._in_shape)

    def get_config(self):
        return {"shape": list(self.shape)}

    def extra_repr(self):
        return f"shape={self.shape}"


@register
class Transpose(Module):
    """Permute the axes after the batch one: ``perm`` lists them numbered from 1 (the batch axis
    0 stays first), e.g. ``Transpose((2, 1, 3))`` swaps the first two of (N, A, B, C)."""

    _per_call = ()

    def __init__(self, perm):
        super().__init__()
        self.perm = _ints(tuple(perm), "perm", "Transpose", 1)
        if sorted(self.perm) != list(range(1, len(self.perm) + 1)):
            raise ValueError(f"Transpose: perm: expected a permutation of 1..{len(self.perm)}, "
                             f"got {self.perm}")

    def forward(self, x):
        x = _float32(x, repr(self))
        if x.ndim != len(self.perm) + 1:
            raise ValueError(f"{self!r}: input: expected {len(self.perm) + 1} dimensions, got "
                             f"shape {x.shape}")
        return np.ascontiguousarray(x.transpose((0,) + self.perm))

    def backward(self, grad_out):
        inv = np.argsort((0,) + self.perm)
        return np.ascontiguousarray(np.asarray(grad_out, np.float32).transpose(tuple(inv)))

    def get_config(self):
        return {"perm": list(self.perm)}

    def extra_repr(self):
        return f"perm={self.perm}"


class _ConstantOperand(Module):
    _per_call = ("_in_shape",)

    def __init__(self, value=None, shape=None):
        super().__init__()
        name = type(self).__name__
        if value is None:
            if shape is None:
                raise ValueError(f"{name}: give value (an array) or shape")
            value = new_array(_ints(tuple(shape), "shape", name, 1), 0.0, name="value")
        value = np.asarray(value, dtype=np.float32)
        self.register_buffer("value", value)
        self._in_shape = None

    def _check(self, x):
        x = _float32(x, repr(self))
        try:
            np.broadcast_shapes(x.shape, self.value.shape)
        except ValueError:
            raise ValueError(f"{self!r}: input shape {x.shape} does not broadcast with the "
                             f"constant's shape {self.value.shape}") from None
        self._in_shape = x.shape
        return x

    def get_config(self):
        return {"shape": list(self.value.shape)}

    def extra_repr(self):
        return f"shape={tuple(self.value.shape)}"


@register
class AddConstant(_ConstantOperand):
    """``x + value``, broadcasting as numpy does (``value``: a fixed array, a buffer)."""

    def forward(self, x):
        x = self._check(x)
        return (x + self.value).astype(np.float32, copy=False)

    def backward(self, grad_out):
        if self._in_shape is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        g = np.asarray(grad_out, dtype=np.float32)
        return _unbroadcast(g, self._in_shape)


@register
class MulConstant(_ConstantOperand):
    """``x * value``, broadcasting as numpy does (``value``: a fixed array, a buffer)."""

    def forward(self, x):
        x = self._check(x)
        return (x * self.value).astype(np.float32, copy=False)

    def backward(self, grad_out):
        if self._in_shape is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        g = np.asarray(grad_out, dtype=np.float32)
        return _unbroadcast(g * self.value, self._in_shape)
