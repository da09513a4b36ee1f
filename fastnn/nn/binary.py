"""Binary (XNOR-Net) layers: BinaryLinear.

Latent float weights W (out, in) are trained; the forward uses sign(W) (sign(0) = +1) scaled per
output row by alpha = mean|W| (XNOR-Net). With binary_inputs the input is binarised the same way
(no scale). Gradients use Larq's ste_sign straight-through estimator: d sign(v)/dv := 1{|v| <= 1};
alpha is treated as a constant in the backward, so weight.grad = alpha * (grad_out.T @ x_b) *
1{|W| <= 1}.

In eval() the signs are bit-packed once (64 per uint64 word) and the forward runs in C++: with
binary_inputs, XNOR + popcount (dot = K - 2 popcount(a ^ b)); otherwise float inputs are added or
subtracted according to the packed signs. The packed weights are rebuilt after train()/eval() or
load_state_dict.
"""
import numpy as np

from fastnn import _C
from fastnn.nn.linear import Linear, _positive_int
from fastnn.nn.module import Module, Parameter, new_array, register

__all__ = ["BinaryLinear", "binary_sign", "ste_mask"]


def binary_sign(x):
    """sign(x) as float32 with sign(0) = +1."""
    return np.where(np.asarray(x) < 0, np.float32(-1), np.float32(1)).astype(np.float32)


def ste_mask(x):
    """Larq's ste_sign gradient: 1 where |x| <= 1, else 0."""
    return (np.abs(x) <= 1).astype(np.float32)


@register
class BinaryLinear(Module):
    """y = x_b @ (alpha * sign(W)).T + bias; x_b = sign(x) when binary_inputs else x. Parameters
    and state_dict as Linear (weight (out, in), bias (out,)); PyTorch's default initialisation."""

    _per_call = ("_x", "_xb", "_wb")

    def __init__(self, in_features, out_features, bias=True, binary_inputs=False):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "BinaryLinear")
        self.out_features = _positive_int(out_features, "out_features", "BinaryLinear")
        self.binary_inputs = bool(binary_inputs)
        self.weight = Parameter(new_array((self.out_features, self.in_features), name="weight"))
        self.bias = Parameter(new_array(self.out_features, name="bias")) if bias else None
        self._x = self._xb = self._wb = None
        object.__setattr__(self, "_packed", None)
        self.reset_parameters()

    reset_parameters = Linear.reset_parameters  # PyTorch's Linear initialisation

    @property
    def _label(self):
        return f"BinaryLinear({self.in_features}, {self.out_features})"

    def alpha(self):
        """Per-output-row scale mean|W|, float32 (out,)."""
        return np.abs(self.weight.data).mean(axis=1, dtype=np.float64).astype(np.float32)

    def effective_weight(self):
        """alpha * sign(W): the weight the forward uses."""
        return binary_sign(self.weight.data) * self.alpha()[:, None]

    def train(self, mode=True):
        object.__setattr__(self, "_packed", None)
        return super().train(mode)

    def load_state_dict(self, state_dict, strict=True):
        object.__setattr__(self, "_packed", None)
        return super().load_state_dict(state_dict, strict)

    def packed(self):
        """(packed sign words uint64 (out, ceil(in/64)), alpha) -- built once per eval()."""
        if self._packed is None:
            object.__setattr__(self, "_packed", (_C.binary_pack(self.weight.data), self.alpha()))
        return self._packed

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self._label}: input: expected shape (N, {self.in_features}), "
                             f"got {x.shape}")
        return x

    def forward(self, x):
        x = self._check_input(x)
        b = None if self.bias is None else self.bias.data
        if not self.training:
            wp, alpha = self.packed()
            if self.binary_inputs:
                return _C.binary_gemm(_C.binary_pack(x), wp, self.in_features, alpha, b)
            return _C.binary_gemm_f32(x, wp, alpha, b)
        xb = binary_sign(x) if self.binary_inputs else x
        wb = self.effective_weight()
        y = _C.linear_forward(xb, wb, b, 0, 0.0, self._label)
        self._x, self._xb, self._wb = x, xb, wb
        return y

    def backward(self, grad_out):
        if self._x is None:
            raise ValueError(f"{self._label}: backward() called before forward()")
        w, b = self.weight, self.bias
        gw = np.zeros_like(w.data) if w.requires_grad else None
        dx = _C.linear_backward(grad_out, self._xb, self._wb, gw,
                                b.grad if b is not None and b.requires_grad else None,
                                True, self._label)
        if gw is not None:
            w.grad += gw * self.alpha()[:, None] * ste_mask(w.data)
        if self.binary_inputs:
            dx = dx * ste_mask(self._x)
        return dx

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "binary_inputs": self.binary_inputs}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, binary_inputs={self.binary_inputs}")
