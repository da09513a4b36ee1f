"""Activation layers: ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid, Tanh, Hardtanh, ReLU6,
Hardsigmoid, Hardswish, Softplus, Softsign, PReLU, Softmax, LogSoftmax, Mish.

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
from fastnn.nn.module import Module, Parameter, new_array, register

__all__ = ["ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid", "Tanh", "Hardtanh", "ReLU6",
           "Hardsigmoid", "Hardswish", "Softplus", "Softsign", "PReLU", "Softmax", "LogSoftmax",
           "Mish"]

_U = _C.Unary  # C++ activation codes (params.h FASTNN_UNARY_LIST); 1-5 equal the GEMM Act codes


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

    _code = None  # a _C.Unary member
    # (ONNX op_type, first opset) of an activation that ONNX writes as one node without attributes:
    # fastnn.onnx imports and exports such a layer from this alone (no line there per layer).
    _onnx_op = None
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

    @property
    def _param2(self):  # the second constant (Hardtanh, Hardsigmoid, Softplus)
        return 0.0

    def _needs_input(self):
        return _C.unary_backward_needs_input(self._code, self._param)

    def forward(self, x):
        y = _C.unary_forward(x, self._code, self._param, repr(self), self._stats(np.shape(x)),
                             self._param2)
        self._x = x if self._needs_input() else None
        self._y = y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        return _C.unary_backward(self._x, self._y, grad_out, self._code, self._param, repr(self),
                                 self._stats(np.shape(self._y), True), self._param2)

    # -- fusion protocol -----------------------------------------------------------------------
    def epilogue(self):
        """(code, param) if a GEMM epilogue can apply this activation, else None."""
        if int(self._code) > int(_U.tanh) or self._needs_input():
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


def fuse_activation(next_layer, run):
    """A layer's ``forward_fused`` for a following element-wise activation: ``run(code, param)``
    computes the layer's output with the activation applied (a GEMM epilogue, the batch norm's
    pass), recorded on the activation so that its backward works as usual; None when
    ``next_layer`` is not such an activation."""
    if not isinstance(next_layer, _Elementwise):
        return None
    ep = next_layer.epilogue()
    if ep is None:
        return None
    y = run(*ep)
    next_layer.accept_fused_output(y)
    return y


@register
class ReLU(_Elementwise):
    """max(x, 0). NaN passes through."""

    _code = _U.relu


@register
class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x."""

    _code = _U.leaky_relu

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

    _code = _U.elu

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

    _code = _U.selu


@register
class GELU(_Elementwise):
    """x * Phi(x) with the exact Gaussian CDF (PyTorch's default, approximate='none').
    (PyTorch gives NaN at x = -inf, as this does: -inf * 0.)"""

    _code = _U.gelu

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

    _code = _U.sigmoid


@register
class Tanh(_Elementwise):
    _code = _U.tanh


def _bound(value, name, layer):
    """A real number, +-inf allowed (a one-sided clamp), NaN not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"{layer}: {name} must not be NaN")
    return value


@register
class Hardtanh(_Elementwise):
    """min(max_val, max(min_val, x)); the gradient passes where min_val < x < max_val."""

    _code = _U.hardtanh

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        name = type(self).__name__
        self.min_val = _bound(min_val, "min_val", name)
        self.max_val = _bound(max_val, "max_val", name)
        if not self.max_val > self.min_val:
            raise ValueError(f"{name}: max_val must be greater than min_val, got "
                             f"min_val={self.min_val}, max_val={self.max_val}")

    @property
    def _param(self):
        return self.min_val

    @property
    def _param2(self):
        return self.max_val

    def get_config(self):
        return {"min_val": self.min_val, "max_val": self.max_val}

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


@register
class ReLU6(Hardtanh):
    """min(max(x, 0), 6): Hardtanh(0, 6)."""

    def __init__(self):
        super().__init__(0.0, 6.0)

    def get_config(self):
        return {}

    def extra_repr(self):
        return ""


_SIXTH = float(np.float32(1.0 / 6.0))


@register
class Hardsigmoid(_Elementwise):
    """min(1, max(0, alpha * x + beta)); PyTorch's Hardsigmoid is the default alpha = 1/6,
    beta = 1/2 (x / 6 + 1/2). alpha and beta (a fastnn extension, ONNX's HardSigmoid attributes)
    take any finite values."""

    _code = _U.hardsigmoid

    def __init__(self, alpha=_SIXTH, beta=0.5):
        super().__init__()
        self.alpha = _real(alpha, "alpha", "Hardsigmoid")
        self.beta = _real(beta, "beta", "Hardsigmoid")

    @property
    def _param(self):
        return self.alpha

    @property
    def _param2(self):
        return self.beta

    def get_config(self):
        return {"alpha": self.alpha, "beta": self.beta}

    def extra_repr(self):
        if float(np.float32(self.alpha)) == _SIXTH and self.beta == 0.5:
            return ""
        return f"alpha={self.alpha}, beta={self.beta}"


@register
class Hardswish(_Elementwise):
    """x * min(max(x + 3, 0), 6) / 6."""

    _code = _U.hardswish


@register
class Softplus(_Elementwise):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's
    definition), computed without overflow."""

    _code = _U.softplus

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = _real(beta, "beta", "Softplus")
        if self.beta == 0.0:
            raise ValueError("Softplus: beta must be nonzero, got 0.0")
        self.threshold = _real(threshold, "threshold", "Softplus")

    @property
    def _param(self):
        return self.beta

    @property
    def _param2(self):
        return self.threshold

    def get_config(self):
        return {"beta": self.beta, "threshold": self.threshold}

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


@register
class Softsign(_Elementwise):
    """x / (1 + |x|)."""

    _code = _U.softsign


@register
class Mish(_Elementwise):
    """x * tanh(softplus(x)) (torch.nn.Mish; ONNX Mish, opset 18)."""

    _code = _U.mish
    _onnx_op = ("Mish", 18)


@register
class PReLU(Module):
    """x if x > 0 else weight[c] * x, with a learnt slope per channel c (axis 1 of the input;
    num_parameters == 1: one slope for every element). Parameter ``weight`` of shape
    (num_parameters,), filled with ``init``: PyTorch's names and state_dict layout."""

    _per_call = ("_x",)

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, numbers.Integral) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be an int >= 1, got {num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = _real(init, "init", "PReLU")
        self.weight = Parameter(new_array(self.num_parameters, self.init, name="weight"))
        self._x = None

    def forward(self, x):
        x = np.asarray(x)
        y = _C.prelu_forward(x, self.weight.data, repr(self))
        self._x = x
        return y

    def backward(self, grad_out):
        if self._x is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        w = self.weight
        return _C.prelu_backward(self._x, w.data, grad_out, w.grad if w.requires_grad else None,
                                 repr(self))

    def get_config(self):
        return {"num_parameters": self.num_parameters, "init": self.init}

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


@register
class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (default 1: the classes of (N, C) or the channels of
    NCHW), max-subtracted so it never overflows."""

    _per_call = ("_y",)

    def __init__(self, dim=1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"{type(self).__name__}: dim must be an int, got "
                            f"{type(dim).__name__}")
        self.dim = int(dim)
        self._y = None

    _fwd, _bwd = staticmethod(_C.softmax_forward), staticmethod(_C.softmax_backward)

    def forward(self, x):
        y = self._fwd(x, self.dim, repr(self))
        self._y = y
        return y

    def backward(self, grad_out):
        if self._y is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        return self._bwd(self._y, grad_out, self.dim, repr(self))

    def get_config(self):
        return {"dim": self.dim}

    def extra_repr(self):
        return f"dim={self.dim}"


@register
class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim`` (default 1, as Softmax), as x - max - log(sum(exp(x - max))):
    finite wherever the input is, where log of a softmax would underflow to -inf."""

    _fwd, _bwd = staticmethod(_C.log_softmax_forward), staticmethod(_C.log_softmax_backward)
