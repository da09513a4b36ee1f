"""Activation layers: ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid, Tanh, Softmax.

Forward and backward are one C++ call each (vectorised, OpenMP). The backward works from the
forward's *output* wherever that determines the derivative (all but GELU, and LeakyReLU/ELU with a
negative parameter, which keep their input), so an activation whose output was produced by a
preceding GEMM epilogue (a fused Linear + activation in a Sequential) back-propagates exactly as
if it had run on its own.

Fusion protocol (used by Linear.forward_fused; any GEMM-based layer may use it):
  ``act.epilogue()`` -> ``(code, param)`` when the activation can run in a GEMM epilogue, else None;
  ``act.accept_fused_output(y)`` records the fused output so that ``act.backward`` works.

Diagnostics hook (fastnn.train.Diagnostics): while a probe is attached (``_diag``), training
passes hand the C++ kernels an accumulator that they fill with the output's (and, backward, the
input gradient's) statistics as they compute it; a fused output is reduced by ``_C.act_stats``.
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.module import Module, register

__all__ = ["ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid", "Tanh", "Softmax"]

# C++ activation codes (ops.h Unary; 1-5 equal the GEMM epilogue's Act codes).
_RELU, _LEAKY, _ELU, _SIGMOID, _TANH, _SELU, _GELU = range(1, 8)


def _real(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{layer}: {name} must be finite, got {value}")
    return value


class _Elementwise(Module):
    """An activation applied element by element by C++ code ``_code`` with parameter ``_param``."""

    _per_call = ("_x", "_y")

    _code = 0
    _diag = None  # a Diagnostics probe: .stats(shape, backward) -> float64 accumulator or None

    def _stats(self, shape, backward=False):
        probe = self._diag
        return None if probe is None or not self.training else probe.stats(shape, backward)

    def __init__(self):
        super().__init__()
        self._x = None  # forward input, kept only when the backward needs it
        self._y = None  # forward output

    @property
    def _param(self):
        return 0.0

    def _needs_input(self):
        return _C.unary_backward_needs_input(self._code, self._param)

    def forward(self, x):
        y = _C.unary_forward(x, self._code, self._param, repr(self), self._stats(np.shape(x)))
        self._x = x if self._needs_input() else None
        self._y = y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        return _C.unary_backward(self._x, self._y, grad_out, self._code, self._param, repr(self),
                                 self._stats(np.shape(self._y), True))

    # -- fusion protocol -----------------------------------------------------------------------
    def epilogue(self):
        """(code, param) if a GEMM epilogue can apply this activation, else None."""
        if self._code > _TANH or self._needs_input():
            return None
        return self._code, self._param

    def accept_fused_output(self, y):
        """Record ``y``, this activation's output computed by a fused GEMM epilogue."""
        self._x = None
        self._y = y
        st = self._stats(np.shape(y))
        if st is not None:
            _C.act_stats(y, st, repr(self))

    def get_config(self):
        return {}


@register
class ReLU(_Elementwise):
    """max(x, 0). NaN passes through."""

    _code = _RELU


@register
class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x."""

    _code = _LEAKY

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _real(negative_slope, "negative_slope", "LeakyReLU")

    @property
    def _param(self):
        return self.negative_slope

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


@register
class ELU(_Elementwise):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    _code = _ELU

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = _real(alpha, "alpha", "ELU")

    @property
    def _param(self):
        return self.alpha

    def get_config(self):
        return {"alpha": self.alpha}

    def extra_repr(self):
        return f"alpha={self.alpha}"


@register
class SELU(_Elementwise):
    """scale * ELU(x, alpha) with PyTorch's constants (alpha 1.6733, scale 1.0507)."""

    _code = _SELU


@register
class GELU(_Elementwise):
    """x * Phi(x) with the exact Gaussian CDF (PyTorch's default, approximate='none').
    (PyTorch gives NaN at x = -inf, as this does: -inf * 0.)"""

    _code = _GELU

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate != "none":
            raise ValueError(f"GELU: only approximate='none' (the exact erf form) is supported, "
                             f"got {approximate!r}")
        self.approximate = approximate

    def get_config(self):
        return {"approximate": self.approximate}

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), evaluated without overflow."""

    _code = _SIGMOID


@register
class Tanh(_Elementwise):
    _code = _TANH


@register
class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (default 1: the classes of (N, C) or the channels of
    NCHW), max-subtracted so it never overflows."""

    _per_call = ("_y",)

    def __init__(self, dim=1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"Softmax: dim must be an int, got {type(dim).__name__}")
        self.dim = int(dim)
        self._y = None

    def forward(self, x):
        y = _C.softmax_forward(x, self.dim, repr(self))
        self._y = y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        return _C.softmax_backward(self._y, grad_out, self.dim, repr(self))

    def get_config(self):
        return {"dim": self.dim}

    def extra_repr(self):
        return f"dim={self.dim}"
