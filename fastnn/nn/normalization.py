"""LocalResponseNorm and LayerNorm (PyTorch's names, arguments and semantics). Arithmetic:
fastnn._C.lrn_forward / lrn_backward (csrc/frame/lrn.cpp), layernorm_forward / layernorm_backward
(csrc/frame/layernorm.cpp).

Across channels of (N, C, *): b_c = a_c / (k + alpha / size * sum of a_j^2)^beta over the window
j = c - size // 2 .. c + (size - 1) // 2 (zero outside 0..C-1), as torch.nn.LocalResponseNorm.
No parameters.

LayerNorm: over the last len(normalized_shape) axes of each sample, y = (x - mean) /
sqrt(var + eps) * weight + bias with the biased variance; mean and variance in double, two passes
(no cancellation for rows with a large common offset). weight (ones) and bias (zeros) have shape
normalized_shape, as PyTorch's state_dict.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, Parameter, new_array, register

__all__ = ["LocalResponseNorm", "LayerNorm"]


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


@register
class LayerNorm(Module):
    """Normalise each sample over its last ``len(normalized_shape)`` axes (PyTorch's LayerNorm:
    ``normalized_shape`` an int or a tuple; ``elementwise_affine`` learns weight and, when
    ``bias``, bias, both of shape ``normalized_shape``)."""

    _per_call = ("_saved",)

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        name = type(self).__name__
        shape = ((normalized_shape,) if isinstance(normalized_shape, numbers.Integral)
                 else tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list))
                 else None)
        if shape is None or not shape:
            raise TypeError(f"{name}: normalized_shape: expected an int or a non-empty tuple of "
                            f"ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(sp.positive_int(d, "normalized_shape", name) for d in shape)
        if (isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real)
                or not 0 <= eps < math.inf):
            raise ValueError(f"{name}: eps: expected a finite number >= 0, got {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.bias_enabled = bool(bias)
        ns = self.normalized_shape
        self.weight = (Parameter(new_array(ns, 1.0, name="weight"))
                       if self.elementwise_affine else None)
        self.bias = (Parameter(new_array(ns, 0.0, name="bias"))
                     if self.elementwise_affine and self.bias_enabled else None)
        self._saved = None

    def _flat(self, p):
        return None if p is None else p.data.reshape(-1)

    def forward(self, x):
        arr = np.asarray(x)
        k = len(self.normalized_shape)
        if arr.ndim < k + 1 or arr.shape[arr.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{self!r}: input: expected shape (N, *, "
                             f"{', '.join(map(str, self.normalized_shape))}), got {arr.shape}")
        x = sp.as_input(arr, repr(self), (arr.ndim,), layout="(N, *, normalized_shape)")
        y, mean, rstd = _C.layernorm_forward(x, self._flat(self.weight), self._flat(self.bias),
                                             k, self.eps)
        self._saved = (x, mean, rstd)
        return y

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        x, mean, rstd = self._saved
        g = sp.check_grad(grad_out, x.shape, repr(self))
        dw, db = sp.grad_of(self.weight), sp.grad_of(self.bias)
        return _C.layernorm_backward(g, x, mean, rstd, self._flat(self.weight),
                                     len(self.normalized_shape), True,
                                     None if dw is None else dw.reshape(-1),
                                     None if db is None else db.reshape(-1))

    def extra_repr(self):
        ns = self.normalized_shape
        return (f"{ns}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
                + ("" if self.bias_enabled else ", bias=False"))

    def get_config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias_enabled}
