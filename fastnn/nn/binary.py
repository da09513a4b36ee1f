"""Binary (XNOR-Net) and ternary (TWN) layers: BinaryLinear, BinaryConv2d, TernaryLinear,
TernaryConv2d.

Latent float weights W (out, in) are trained; the forward uses sign(W) (sign(0) = +1) scaled per
output row by alpha = mean|W| (XNOR-Net). With binary_inputs the input is binarised the same way
(no scale). Gradients use Larq's ste_sign straight-through estimator: d sign(v)/dv := 1{|v| <= 1};
alpha is treated as a constant in the backward, so weight.grad = alpha * (grad_out.T @ x_b) *
1{|W| <= 1}.

In eval() the signs are bit-packed once (64 per uint64 word) and the forward runs in C++: with
binary_inputs, XNOR + popcount (dot = K - 2 popcount(a ^ b)); otherwise float inputs are added or
subtracted according to the packed signs. The packed weights are rebuilt after train()/eval() or
load_state_dict.

BinaryConv2d: the same per output channel (alpha = mean|W| over in x kh x kw). With
binary_inputs the padded border takes ``pad_value`` (+1 or -1, after binarisation; Larq's
``pad_values``): a binary input has no 0, and this keeps the packed eval forward exact. In eval
it runs as im2col of the sign bits (``_C.binary_im2col``) + XNOR/popcount (``_C.binary_gemm``);
with float inputs, the float conv kernel on the cached alpha * sign(W).

Ternary (Ternary Weight Networks, Li & Liu 2016): per output channel threshold
delta = 0.7 * mean|W|, weights in {-alpha, 0, +alpha} with alpha = mean of |W| over |W| > delta.
Trained with the straight-through estimator (weight.grad = the gradient of the ternary weight).
TernaryLinear's eval forward runs on two bit-planes (+1 and -1 positions, ``_C.ternary_gemm_f32``:
additions only); TernaryConv2d's on the float conv kernel with the cached ternary weight.
"""
import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.conv import Conv2d, _ConvNd
from fastnn.nn.linear import Linear, _positive_int
from fastnn.nn.module import Module, Parameter, new_array, register

__all__ = ["BinaryLinear", "BinaryConv2d", "TernaryLinear", "TernaryConv2d", "binary_sign",
           "ste_mask", "ternary_weight"]


def binary_sign(x):
    """sign(x) as float32 with sign(0) = +1."""
    return np.where(np.asarray(x) < 0, np.float32(-1), np.float32(1)).astype(np.float32)


def ste_mask(x):
    """Larq's ste_sign gradient: 1 where |x| <= 1, else 0."""
    return (np.abs(x) <= 1).astype(np.float32)


def _rows(w):
    return w.reshape(w.shape[0], -1)


def binary_alpha(w):
    """Per-output-channel scale mean|W| (over all but the first axis), float32."""
    return np.abs(_rows(w)).mean(axis=1, dtype=np.float64).astype(np.float32)


def ternary_weight(w):
    """(t, alpha): t in {-1, 0, +1} (float32, w's shape) and alpha (out,), per output channel:
    delta = 0.7 * mean|W|, t = sign(W) where |W| > delta, alpha = mean |W| over those (0 for a
    channel with none). The layer's weight is alpha * t."""
    r = _rows(w).astype(np.float64)
    a = np.abs(r)
    delta = 0.7 * a.mean(axis=1, keepdims=True)
    keep = a > delta
    n = keep.sum(axis=1)
    alpha = np.where(n > 0, (a * keep).sum(axis=1) / np.maximum(n, 1), 0.0).astype(np.float32)
    t = (np.sign(r) * keep).astype(np.float32).reshape(w.shape)
    return t, alpha


def _scale(t, alpha):
    return t * alpha.reshape((-1,) + (1,) * (t.ndim - 1))


class _EvalCache:
    """The packed / effective weight an eval() forward reuses (``_cache``), dropped whenever the
    weights may have changed: train()/eval() and load_state_dict."""

    def train(self, mode=True):
        object.__setattr__(self, "_cache", None)
        return super().train(mode)

    def load_state_dict(self, state_dict, strict=True):
        object.__setattr__(self, "_cache", None)
        return super().load_state_dict(state_dict, strict)

    def cached(self, make):
        if self.__dict__.get("_cache") is None:
            object.__setattr__(self, "_cache", make())
        return self._cache


class _BitLinear(_EvalCache, Module):
    """A Linear (parameters, state_dict, PyTorch's initialisation) whose forward uses a function
    of its latent weight (``effective_weight``), whose weight gradient goes through that
    function's straight-through estimator (``_ste``), and whose eval forward runs on packed bits
    (``_eval``, from ``packed()``, rebuilt after train()/eval() and load_state_dict)."""

    _per_call = ("_x", "_xb", "_wb")

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        name = type(self).__name__
        self.in_features = _positive_int(in_features, "in_features", name)
        self.out_features = _positive_int(out_features, "out_features", name)
        self.weight = Parameter(new_array((self.out_features, self.in_features), name="weight"))
        self.bias = Parameter(new_array(self.out_features, name="bias")) if bias else None
        self._x = self._xb = self._wb = None
        object.__setattr__(self, "_cache", None)
        self.reset_parameters()

    reset_parameters = Linear.reset_parameters  # PyTorch's Linear initialisation

    @property
    def _label(self):
        return f"{type(self).__name__}({self.in_features}, {self.out_features})"

    def packed(self):
        return self.cached(self._pack)

    def _input(self, x):
        return x

    def _input_grad(self, x, dx):
        return dx

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self._label}: input: expected shape (N, {self.in_features}), "
                             f"got {x.shape}")
        b = None if self.bias is None else self.bias.data
        if not self.training:
            return self._eval(x, b)
        xb, wb = self._input(x), self.effective_weight()
        y = _C.linear_forward(xb, wb, b, None, 0.0, self._label)
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
            w.grad += self._ste(gw)
        return self._input_grad(self._x, dx)

    get_config = Linear.get_config  # Linear's arguments and repr
    extra_repr = Linear.extra_repr


@register
class BinaryLinear(_BitLinear):
    """y = x_b @ (alpha * sign(W)).T + bias; x_b = sign(x) when binary_inputs else x. Parameters
    and state_dict as Linear (weight (out, in), bias (out,)); PyTorch's default initialisation."""

    def __init__(self, in_features, out_features, bias=True, binary_inputs=False):
        super().__init__(in_features, out_features, bias)
        self.binary_inputs = bool(binary_inputs)

    def alpha(self):
        """Per-output-row scale mean|W|, float32 (out,)."""
        return binary_alpha(self.weight.data)

    def effective_weight(self):
        """alpha * sign(W): the weight the forward uses."""
        return binary_sign(self.weight.data) * self.alpha()[:, None]

    def _pack(self):
        """(packed sign words uint64 (out, ceil(in/64)), alpha)."""
        return _C.binary_pack(self.weight.data), self.alpha()

    def _eval(self, x, b):
        wp, alpha = self.packed()
        if self.binary_inputs:
            return _C.binary_gemm(_C.binary_pack(x), wp, self.in_features, alpha, b)
        return _C.binary_gemm_f32(x, wp, alpha, b)

    def _input(self, x):
        return binary_sign(x) if self.binary_inputs else x

    def _ste(self, gw):
        return gw * self.alpha()[:, None] * ste_mask(self.weight.data)

    def _input_grad(self, x, dx):
        return dx * ste_mask(x) if self.binary_inputs else dx

    def get_config(self):
        return dict(super().get_config(), binary_inputs=self.binary_inputs)

    def extra_repr(self):
        return super().extra_repr() + f", binary_inputs={self.binary_inputs}"


def _sign_pad_check(pad_value, name):
    if isinstance(pad_value, bool) or pad_value not in (1, -1, 1.0, -1.0):
        raise ValueError(f"{name}: pad_value: expected 1.0 or -1.0 (a binary input has no 0), got "
                         f"{pad_value!r}")
    return float(pad_value)


class _QuantConv(_EvalCache, _ConvNd):
    """A convolution (Conv2d's arguments and state_dict) whose forward uses a function of its
    latent weight (``effective_weight``) and whose weight gradient goes through that function's
    straight-through estimator (``_ste``). Not a Conv2d subclass on purpose: pruning, int8
    quantization, BatchNorm folding and ONNX export must not take it for a float Conv2d."""

    _per_call = ("_x", "_out_shape", "_xin", "_wq")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias)
        object.__setattr__(self, "_cache", None)
        self._xin = self._wq = None

    get_config = Conv2d.get_config

    def _input(self, x):
        """(the tensor the conv sees, its padding)."""
        return x, self.padding

    def _conv_padding(self):
        return self.padding

    def _input_grad(self, x, dx):
        return dx

    def _conv(self, x, w):
        xin, pad = self._input(x)
        return _C.conv2d_forward(xin, w, self._bias_data(), self.stride, pad, self.dilation,
                                 self.groups), xin

    def effective_weight(self):
        raise NotImplementedError

    def forward(self, x):
        x, unbatched = self._prepare(x)
        if not self.training:
            y = self._eval_forward(x)
        else:
            wq = self.effective_weight()
            y, xin = self._conv(x, wq)
            self._x, self._xin, self._wq = x, xin, wq
        if unbatched:
            y = y[0]
        self._out_shape = (unbatched, y.shape)
        return y

    def _eval_forward(self, x):
        return self._conv(x, self.cached(self.effective_weight))[0]

    def backward(self, grad_out):
        g, unbatched = self._backward_common(grad_out)
        w, b = self.weight, self.bias
        gw = np.zeros_like(w.data) if w.requires_grad else None
        dx = _C.conv2d_backward(self._xin, g, self._wq, self.stride, self._conv_padding(),
                                self.dilation,
                                self.groups, True, gw, sp.grad_of(b))
        if gw is not None:
            w.grad += self._ste(gw)
        dx = self._input_grad(self._x, dx)
        return dx[0] if unbatched else dx


@register
class BinaryConv2d(_QuantConv):
    """XNOR-Net convolution: y = conv(x_b, alpha * sign(W)) + bias, x_b = sign(x) when
    binary_inputs (border padded with pad_value), else x (zero padding). Parameters and
    state_dict as Conv2d. groups must be 1 with binary_inputs."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, binary_inputs=False, pad_value=1.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias)
        self.binary_inputs = bool(binary_inputs)
        self.pad_value = _sign_pad_check(pad_value, "BinaryConv2d")
        if self.binary_inputs and self.groups != 1:
            raise ValueError(f"BinaryConv2d: groups: expected 1 with binary_inputs=True, got "
                             f"{self.groups}")

    def alpha(self):
        return binary_alpha(self.weight.data)

    def effective_weight(self):
        return _scale(binary_sign(self.weight.data), self.alpha())

    def _ste(self, gw):
        return gw * self.alpha()[:, None, None, None] * ste_mask(self.weight.data)

    def _input(self, x):
        if not self.binary_inputs:
            return x, self.padding
        xb = binary_sign(x)
        ph, pw = self.padding
        if ph or pw:
            xb = np.pad(xb, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=self.pad_value)
        return xb, (0, 0)

    def _conv_padding(self):
        return (0, 0) if self.binary_inputs else self.padding

    def _input_grad(self, x, dx):
        if not self.binary_inputs:
            return dx
        ph, pw = self.padding
        dx = dx[:, :, ph:dx.shape[2] - ph, pw:dx.shape[3] - pw]
        return np.ascontiguousarray(dx) * ste_mask(x)

    def _pack(self):
        """(packed sign words of W in im2col order (out, ceil(in*kh*kw/64)), alpha)."""
        w = binary_sign(self.weight.data).transpose(0, 2, 3, 1).reshape(self.out_channels, -1)
        return _C.binary_pack(np.ascontiguousarray(w)), self.alpha()

    def _eval_forward(self, x):
        if not self.binary_inputs:
            return super()._eval_forward(x)  # the float conv on the cached alpha * sign(W)
        wp, alpha = self.cached(self._pack)
        n = x.shape[0]
        # the sign bits of the im2col rows, packed in C++; the border gets pad_value's bit
        a, oh, ow = _C.binary_im2col(x, list(self.kernel_size), list(self.stride),
                                     list(self.padding), list(self.dilation), self.pad_value < 0)
        y = _C.binary_gemm(a, wp, self.in_channels * self.kernel_size[0] * self.kernel_size[1],
                           alpha, self._bias_data())
        return np.ascontiguousarray(y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))

    def get_config(self):
        c = super().get_config()
        c.update(binary_inputs=self.binary_inputs, pad_value=self.pad_value)
        return c

    def extra_repr(self):
        return super().extra_repr() + (f", binary_inputs=True, pad_value={self.pad_value:g}"
                                       if self.binary_inputs else "")


@register
class TernaryConv2d(_QuantConv):
    """Ternary Weight Network convolution: y = conv(x, alpha * t(W)) + bias (see
    ``ternary_weight``); parameters and state_dict as Conv2d."""

    def effective_weight(self):
        t, alpha = ternary_weight(self.weight.data)
        return _scale(t, alpha)

    def _ste(self, gw):
        return gw


@register
class TernaryLinear(_BitLinear):
    """y = x @ (alpha * t(W)).T + bias (see ``ternary_weight``); parameters and state_dict as
    Linear. eval(): two bit-planes and additions only (``_C.ternary_gemm_f32``)."""

    def effective_weight(self):
        t, alpha = ternary_weight(self.weight.data)
        return _scale(t, alpha)

    def _pack(self):
        """(+1 plane, -1 plane, alpha): uint64 (out, ceil(in/64)) each."""
        t, alpha = ternary_weight(self.weight.data)
        one = np.float32(1)
        return (_C.binary_pack(np.where(t > 0, -one, one)),
                _C.binary_pack(np.where(t < 0, -one, one)), alpha)

    def _eval(self, x, b):
        pos, neg, alpha = self.packed()
        return _C.ternary_gemm_f32(x, pos, neg, alpha, b)

    def _ste(self, gw):
        return gw  # straight-through estimator
