"""Linear (fully connected) and Flatten layers."""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _calls, init
from fastnn.nn.activation import fuse_activation
from fastnn.nn.module import Module, Parameter, init_deferred, new_array, register

__all__ = ["Linear", "Flatten"]


def _positive_int(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{layer}: {name} must be >= 1, got {value}")
    return int(value)


@register
class Linear(Module):
    """y = x @ weight.T + bias, for x of shape (N, in_features) -- or, as in PyTorch, one sample
    (in_features,) -> (out_features,) and any (*, in_features) -> (*, out_features) (forward and
    backward; the leading dimensions are merged into the GEMM's rows).

    weight: (out_features, in_features), bias: (out_features,), PyTorch's names and layouts.
    Default initialisation (PyTorch's): weight ~ kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in_features), 1/sqrt(in_features)); bias ~ the same U(-1/sqrt(in), 1/sqrt(in)).

    Forward is one GEMM reading the weight transposed in place, with the bias (and, inside a
    Sequential, a following ReLU/LeakyReLU/ELU/Sigmoid/Tanh: see ``forward_fused``) applied in the
    GEMM epilogue. Backward: grad_in = grad_out @ weight; weight.grad += grad_out.T @ x and
    bias.grad += grad_out.sum(0), accumulated straight into the gradient buffers; skipped for a
    frozen parameter (requires_grad False).

    Pruning (fastnn.prune): when ``weight.mask`` is set, every forward first multiplies
    ``weight.data`` by the mask in place (so the product always uses exactly-zero pruned weights,
    even after a user wrote into ``.data``), and backward masks ``weight.grad`` the same way.
    """

    _per_call = ("_x", "_lead")
    precision = "float32"  # "bf16": Module.to_bf16() (eval-mode products in mixed precision)

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = Parameter(new_array((self.out_features, self.in_features), name="weight"))
        self.bias = Parameter(new_array(self.out_features, name="bias")) if bias else None
        self._x = self._lead = None
        self.reset_parameters()

    def reset_parameters(self):
        if init_deferred():  # fastnn.load: the file's weights follow
            return
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    @property
    def _label(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def _forward(self, x, act=None, param=0.0):
        x = np.asarray(x)
        lead = None
        if x.ndim != 2:  # one sample (in,) or (..., in): the GEMM sees (prod(...), in)
            if x.ndim == 0 or x.shape[-1] != self.in_features:
                raise ValueError(f"{self._label}: input: expected shape (*, {self.in_features}), "
                                 f"got {x.shape}")
            lead = x.shape[:-1]
            x = x.reshape(-1, self.in_features)
        w = self.weight
        if w.mask is not None:  # [prune] a pruned weight is re-masked in place: see fastnn.prune
            _C.mask_apply(w.data, w.mask)
        b = None if self.bias is None else self.bias.data
        y = _C.linear_forward(x, self.weight.data, b, act, param, self._label,
                              self.precision == "bf16" and not self._training)
        self._x, self._lead = x, lead
        return y if lead is None else y.reshape(lead + (self.out_features,))

    def forward(self, x):
        return self._forward(x)

    def forward_fused(self, x, next_layer):
        """Absorb a following activation into the GEMM epilogue (same bits as unfused)."""
        return fuse_activation(next_layer, lambda code, param: self._forward(x, code, param))

    def backward(self, grad_out):
        if self._x is None:
            raise ValueError(f"{self._label}: backward() called before forward()")
        w, b = self.weight, self.bias
        lead = self._lead
        if lead is not None:
            grad_out = np.asarray(grad_out)
            want = lead + (self.out_features,)
            if grad_out.shape != want:
                raise ValueError(f"{self._label}: grad_out: expected shape {want} (the output's), "
                                 f"got {grad_out.shape}")
            grad_out = grad_out.reshape(-1, self.out_features)
        need_dx = not _calls.input_grad_skipped()  # backward(..., input_grad=False): no dX
        dx = _C.linear_backward(grad_out, self._x, w.data,
                                w.grad if w.requires_grad else None,
                                b.grad if b is not None and b.requires_grad else None,
                                need_dx, self._label)
        if w.mask is not None and w.requires_grad:  # [prune] pruned weights get no gradient
            _C.mask_apply(w.grad, w.mask)
        if dx is None:
            return None
        return dx if lead is None else dx.reshape(lead + (self.in_features,))

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


@register
class Flatten(Module):
    """Merges dims start_dim..end_dim (default: all but the batch dim) into one; backward
    restores the input's shape. A view when the input's layout allows it, else a copy."""

    _per_call = ("_shape",)

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"Flatten: {name} must be an int, got {type(v).__name__}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shape = None

    def forward(self, x):
        x = np.asarray(x)
        nd = max(x.ndim, 1)
        s = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        e = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= s < nd and 0 <= e < nd and s <= e):
            raise ValueError(f"{self!r}: input: cannot flatten dims {self.start_dim}..{self.end_dim} "
                             f"of an array of shape {x.shape}")
        shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
        y = x.reshape(shape)
        self._shape = x.shape
        return y

    def backward(self, grad_out):
        if self._shape is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        g = np.asarray(grad_out)
        if g.size != int(np.prod(self._shape)):
            raise ValueError(f"{self!r}: grad_out: expected {int(np.prod(self._shape))} elements "
                             f"(the flattened input of shape {self._shape}), got shape {g.shape}")
        return g.reshape(self._shape)

    def get_config(self):
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
