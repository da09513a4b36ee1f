"""Layers that join and split tensors: Add, Multiply, Concat, Split, Identity -- the
joints of graph models (``nn.Model``) and of define-by-run modules (``fastnn.add``, ``fastnn.cat``).

Add and Multiply broadcast as numpy (and PyTorch, and ONNX) do; their backward sums the gradient
over the broadcast dimensions. Concat and Split move whole slabs (one copy, numpy's C loops);
Split's outputs and Concat's input gradients are views, no copy.
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.module import Module, register

__all__ = ["Add", "Multiply", "Concat", "Split", "Identity", "ResidualAdd"]


def _arrays(xs, layer, least):
    if len(xs) < least:
        raise TypeError(f"{layer}: expected at least {least} inputs, got {len(xs)}")
    out = []
    for i, x in enumerate(xs):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"{layer}: input {i}: expected a floating-point array, got dtype "
                            f"{x.dtype}")
        out.append(x if x.dtype == np.float32 else x.astype(np.float32))
    return out


def _broadcast_shape(shapes, layer):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{layer}: input shapes {', '.join(map(str, shapes))} do not match (nor "
                         "broadcast)") from None


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the inverse of broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, dtype=np.float32).reshape(shape)


def _sum_same_shape(xs, relu):
    """The sum of two or more float32 arrays of one shape by fastnn's threaded add (one new
    array, the later inputs added in place), ReLU applied by the last addition when ``relu``."""
    y = _C.add(xs[0], xs[1], relu=relu and len(xs) == 2, layer="Add")
    for i, x in enumerate(xs[2:], 3):
        _C.add(y, x, out=y, relu=relu and i == len(xs), layer="Add")
    return y


def _grad(grad_out, shape, layer):
    g = np.asarray(grad_out, dtype=np.float32)
    if g.shape != tuple(shape):
        raise ValueError(f"{layer}: grad_out: expected shape {tuple(shape)} (the output's), got "
                         f"{g.shape}")
    return g


@register
class Add(Module):
    """The sum of its inputs (two or more), broadcasting as numpy does."""

    _per_call = ("_shapes",)

    def forward(self, *xs):
        xs = _arrays(xs, "Add", 2)
        shapes = [x.shape for x in xs]
        _broadcast_shape(shapes, "Add")
        if all(s == shapes[0] for s in shapes):  # float32 (_arrays), one shape: threaded sum
            y = _sum_same_shape(xs, relu=False)
        else:
            y = xs[0] + xs[1]
            for x in xs[2:]:
                y += x
        self._shapes = shapes
        return y

    def forward_fused(self, *args):
        """``forward_fused(*inputs, next_layer)``: absorb a following ReLU (a residual block's
        join) into the threaded sum, for inputs of one shape -- the same bits as Add then ReLU;
        None (not fused) otherwise."""
        from fastnn.nn.activation import ReLU
        xs, nxt = args[:-1], args[-1]
        if type(nxt) is not ReLU or len(xs) < 2:
            return None
        xs = _arrays(xs, "Add", 2)
        shapes = [x.shape for x in xs]
        if any(s != shapes[0] for s in shapes):
            return None
        y = _sum_same_shape(xs, relu=True)
        self._shapes = shapes
        nxt.accept_fused_output(y)
        return y

    def backward(self, grad_out):
        shapes = self._shapes
        g = _grad(grad_out, np.broadcast_shapes(*shapes), "Add")
        return tuple(_unbroadcast(g, s) for s in shapes)

    def get_config(self):
        return {}


@register
class ResidualAdd(Add):
    """The join of ``nn.Residual``: ``x + block(x)``, the two of one shape (no broadcasting)."""

    def forward(self, x, y):
        if np.shape(y) != np.shape(x):
            raise ValueError(f"Residual: block output shape {np.shape(y)} differs from input "
                             f"shape {np.shape(x)}")
        return super().forward(x, y)


@register
class Multiply(Module):
    """The element-wise product of two inputs, broadcasting as numpy does."""

    _per_call = ("_xs",)

    def forward(self, a, b):
        a, b = _arrays((a, b), "Multiply", 2)
        _broadcast_shape([a.shape, b.shape], "Multiply")
        self._xs = (a, b)
        return a * b

    def backward(self, grad_out):
        a, b = self._xs
        g = _grad(grad_out, np.broadcast_shapes(a.shape, b.shape), "Multiply")
        return _unbroadcast(g * b, a.shape), _unbroadcast(g * a, b.shape)

    def get_config(self):
        return {}


def _dim(dim, ndim, layer):
    if not -ndim <= dim < ndim:
        raise ValueError(f"{layer}: dim {dim} is out of range for inputs of {ndim} dimensions")
    return dim % ndim


def _int_arg(v, name, layer):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {type(v).__name__}")
    return int(v)


@register
class Concat(Module):
    """Inputs joined along ``dim`` (default 1: the channels of NCHW, the features of (N, F)),
    as ``torch.cat``; every other dimension must agree."""

    _per_call = ("_sizes",)

    def __init__(self, dim=1):
        super().__init__()
        self.dim = _int_arg(dim, "dim", "Concat")

    def forward(self, *xs):
        xs = _arrays(xs, f"Concat(dim={self.dim})", 1)
        nd = xs[0].ndim
        if nd == 0 or any(x.ndim != nd for x in xs):
            raise ValueError(f"Concat(dim={self.dim}): inputs must have the same number of "
                             f"dimensions (>= 1), got shapes {', '.join(str(x.shape) for x in xs)}")
        d = _dim(self.dim, nd, f"Concat(dim={self.dim})")
        rest = {x.shape[:d] + x.shape[d + 1:] for x in xs}
        if len(rest) != 1:
            raise ValueError(f"Concat(dim={self.dim}): inputs must agree in every dimension but "
                             f"{self.dim}, got shapes {', '.join(str(x.shape) for x in xs)}")
        self._sizes = (d, [x.shape[d] for x in xs], xs[0].shape)
        return np.concatenate(xs, axis=d)

    def backward(self, grad_out):
        d, sizes, shape0 = self._sizes
        want = shape0[:d] + (sum(sizes),) + shape0[d + 1:]
        g = _grad(grad_out, want, f"Concat(dim={self.dim})")
        return tuple(np.split(g, np.cumsum(sizes)[:-1], axis=d))

    def get_config(self):
        return {"dim": self.dim}

    def extra_repr(self):
        return f"dim={self.dim}"


@register
class Split(Module):
    """``torch.split``: pieces of ``split_size`` along ``dim`` (the last may be smaller), or of
    the listed sizes, which must add up to the dimension."""

    _per_call = ("_shape",)

    def __init__(self, split_size_or_sections, dim=1):
        super().__init__()
        s = split_size_or_sections
        if isinstance(s, (list, tuple)):
            sizes = [_int_arg(v, "sections", "Split") for v in s]
            if not sizes or min(sizes) < 0:
                raise ValueError(f"Split: sections must be a non-empty list of sizes >= 0, got {s}")
            self.split_size_or_sections = sizes
        else:
            s = _int_arg(s, "split_size", "Split")
            if s < 1:
                raise ValueError(f"Split: split_size must be >= 1, got {s}")
            self.split_size_or_sections = s
        self.dim = _int_arg(dim, "dim", "Split")

    def _sizes(self, n):
        s = self.split_size_or_sections
        if isinstance(s, list):
            if sum(s) != n:
                raise ValueError(f"{self!r}: sections {s} add up to {sum(s)}, but dim {self.dim} "
                                 f"has size {n}")
            return s
        return [min(s, n - i) for i in range(0, n, s)]

    def forward(self, x):
        (x,) = _arrays((x,), repr(self), 1)
        d = _dim(self.dim, max(x.ndim, 1), repr(self))
        sizes = self._sizes(x.shape[d])
        self._shape = (d, sizes, x.shape)
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=d))

    def backward(self, *grads):
        d, sizes, shape = self._shape
        if len(grads) != len(sizes):
            raise ValueError(f"{self!r}: expected {len(sizes)} gradients, got {len(grads)}")
        parts = []
        for k, (g, n) in enumerate(zip(grads, sizes)):
            want = shape[:d] + (n,) + shape[d + 1:]
            parts.append(np.zeros(want, np.float32) if g is None else _grad(g, want, repr(self)))
        return np.concatenate(parts, axis=d)

    def get_config(self):
        return {"split_size_or_sections": self.split_size_or_sections, "dim": self.dim}

    def extra_repr(self):
        return f"{self.split_size_or_sections}, dim={self.dim}"


@register
class Identity(Module):
    """Returns its input (a placeholder; a graph node that names a tensor)."""

    def forward(self, x):
        return x

    def backward(self, grad_out):
        return grad_out

    def get_config(self):
        return {}
