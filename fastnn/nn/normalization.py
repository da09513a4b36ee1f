"""LocalResponseNorm (PyTorch's name, arguments and semantics). Arithmetic: fastnn._C.lrn_forward /
lrn_backward (csrc/frame/lrn.cpp).

Across channels of (N, C, *): b_c = a_c / (k + alpha / size * sum of a_j^2)^beta over the window
j = c - size // 2 .. c + (size - 1) // 2 (zero outside 0..C-1), as torch.nn.LocalResponseNorm.
No parameters.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, register

__all__ = ["LocalResponseNorm"]


def _finite(value, arg, name):
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value)):
        raise ValueError(f"{name}: {arg}: expected a finite number, got {value!r}")
    return float(value)


@register
class LocalResponseNorm(Module):
    """Local response normalisation across channels of an (N, C, *) input (3-D or more)."""

    _per_call = ("_saved",)

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        name = type(self).__name__
        self.size = sp.positive_int(size, "size", name)
        self.alpha = _finite(alpha, "alpha", name)
        self.beta = _finite(beta, "beta", name)
        self.k = _finite(k, "k", name)
        self._saved = None

    @property
    def _before(self):
        return self.size // 2

    def forward(self, x):
        arr = np.asarray(x)
        if arr.ndim < 3:
            raise ValueError(f"{self!r}: input: expected a 3-D or higher array (N, C, *), got "
                             f"shape {arr.shape}")
        x = sp.as_input(arr, repr(self), (arr.ndim,), layout="(N, C, *)")
        y, scale = _C.lrn_forward(x, self.size, self._before, self.alpha, self.beta, self.k)
        self._saved = (x, scale)
        return y

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        x, scale = self._saved
        g = sp.check_grad(grad_out, x.shape, repr(self))
        return _C.lrn_backward(g, x, scale, self.size, self._before, self.alpha, self.beta,
                               self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def get_config(self):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
