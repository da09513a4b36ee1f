"""Reduction layers over one or more axes, named after PyTorch's functions (PyTorch has
functions, not layer classes, for these; the arguments are the functions' ``dim`` and
``keepdim``): ``Mean``, ``Sum``, ``Amax``, ``Amin``, ``Prod``, ``Norm(p=1 | 2)``, ``LogSumExp``
(torch.mean / sum / amax / amin / prod / norm / logsumexp) and ``SumSquare`` (torch.sum(x * x)).
They carry ONNX's ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
ReduceLogSumExp and ReduceSumSquare. Arithmetic: fastnn._C.reduce_forward / reduce_backward
(csrc/frame/reduce.cpp); sums, products and the sum of exponentials in double.

``dim``: an int or a tuple of ints, negative counting from the end, never the batch axis 0 (a
layer maps a batch to a batch). Axes that are not adjacent are first moved together (a transposed
copy), then reduced as one block. Backward: Sum spreads the gradient, Mean divides it by the count,
Amax / Amin split it evenly between the positions equal to the maximum / minimum (torch.amax's
rule for ties), Prod gives the product of the other values (exact with zeros), SumSquare 2 x,
Norm sign(x) (p=1) or x / norm (p=2; 0 where the norm is 0), LogSumExp exp(x - y).
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, register

__all__ = ["Mean", "Sum", "Amax", "Amin", "Prod", "SumSquare", "Norm", "LogSumExp"]


class _Reduce(Module):
    _per_call = ("_saved",)
    _op = ""

    def __init__(self, dim, keepdim=False):
        super().__init__()
        name = type(self).__name__
        dims = (dim,) if isinstance(dim, numbers.Integral) else dim
        if (not isinstance(dims, (tuple, list)) or not dims or any(
                isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral)
                for d in dims)):
            raise TypeError(f"{name}: dim: expected an int or a non-empty tuple of ints, got "
                            f"{dim!r}")
        if len(set(int(d) for d in dims)) != len(dims):
            raise ValueError(f"{name}: dim: expected distinct axes, got {dim!r}")
        if 0 in dims:
            raise ValueError(f"{name}: dim: the batch axis 0 cannot be reduced (a layer maps a "
                             f"batch to a batch), got {dim!r}")
        self.dim = tuple(int(d) for d in dims)
        self.keepdim = bool(keepdim)
        self._saved = None

    def _axes(self, ndim):
        axes = sorted(d % ndim if -ndim <= d < ndim else -1 for d in self.dim)
        if axes[0] <= 0 or len(set(axes)) != len(axes):
            raise ValueError(f"{self!r}: input: dim {self.dim} does not name distinct non-batch "
                             f"axes of a {ndim}-D input")
        return axes

    def _out_shape(self, shape, axes):
        if self.keepdim:
            return tuple(1 if a in axes else d for a, d in enumerate(shape))
        return tuple(d for a, d in enumerate(shape) if a not in axes)

    def infer_shape(self, in_shape):
        return self._out_shape(tuple(in_shape), self._axes(len(in_shape)))

    def forward(self, x):
        arr = np.asarray(x)
        x = sp.as_input(arr, repr(self), (max(arr.ndim, 1),), layout="(N, ...)")
        axes = self._axes(x.ndim)
        perm = None
        if axes[-1] - axes[0] + 1 != len(axes):  # not adjacent: move them to the end
            perm = [a for a in range(x.ndim) if a not in axes] + axes
            x = np.ascontiguousarray(x.transpose(perm))
            start = x.ndim - len(axes)
        else:
            start = axes[0]
        y = _C.reduce_forward(x, start, start + len(axes), self._op)
        self._saved = (x, y, start, len(axes), perm, arr.shape)
        return y.reshape(self._out_shape(arr.shape, axes))

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        x, y, start, k, perm, in_shape = self._saved
        axes = self._axes(len(in_shape))
        g = sp.check_grad(grad_out, self._out_shape(in_shape, axes), repr(self))
        dx = _C.reduce_backward(g.reshape(y.shape), x, y, start, start + k, self._op)
        return dx if perm is None else np.ascontiguousarray(dx.transpose(np.argsort(perm)))

    def extra_repr(self):
        dim = self.dim[0] if len(self.dim) == 1 else self.dim
        return f"dim={dim}" + (", keepdim=True" if self.keepdim else "")

    def get_config(self):
        return {"dim": list(self.dim), "keepdim": self.keepdim}


@register
class Mean(_Reduce):
    """The mean over ``dim`` (torch.mean(x, dim, keepdim))."""

    _op = "mean"


@register
class Sum(_Reduce):
    """The sum over ``dim`` (torch.sum(x, dim, keepdim))."""

    _op = "sum"


@register
class Amax(_Reduce):
    """The maximum over ``dim`` (torch.amax(x, dim, keepdim)); ties share the gradient evenly."""

    _op = "max"


@register
class Amin(_Reduce):
    """The minimum over ``dim`` (torch.amin(x, dim, keepdim)); ties share the gradient evenly."""

    _op = "min"


@register
class Prod(_Reduce):
    """The product over ``dim`` (torch.prod(x, dim, keepdim); here ``dim`` may be several axes)."""

    _op = "prod"


@register
class SumSquare(_Reduce):
    """The sum of squares over ``dim`` (torch.sum(x * x, dim, keepdim); ONNX's ReduceSumSquare)."""

    _op = "sumsq"


@register
class LogSumExp(_Reduce):
    """log(sum(exp(x))) over ``dim`` (torch.logsumexp(x, dim, keepdim)), the maximum subtracted
    first."""

    _op = "logsumexp"


@register
class Norm(_Reduce):
    """The p-norm over ``dim`` for p = 1 (sum of |x|) or 2 (Euclidean): torch.norm(x, p, dim,
    keepdim). ``dim`` is required."""

    def __init__(self, p=2, dim=None, keepdim=False):
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) or p not in (1, 2):
            raise ValueError(f"Norm: p: expected 1 or 2, got {p!r}")
        super().__init__(dim, keepdim)
        self.p = int(p)

    @property
    def _op(self):
        return "l1" if self.p == 1 else "l2"

    def extra_repr(self):
        return f"p={self.p}, " + super().extra_repr()

    def get_config(self):
        return {"p": self.p, **super().get_config()}
