"""Conv1d over (N, C, L) (PyTorch's name, arguments and state_dict layout). The arithmetic is the
Conv2d frame (fastnn._C.conv2d_forward / conv2d_backward, csrc/frame/conv2d.cpp) on the
(N, C, 1, L) view with a (1, k) kernel; padding other than symmetric zeros (padding='same' with an
odd total, padding_mode 'reflect' / 'replicate' / 'circular') is a pad2d copy (csrc/frame/pad.cpp)
first.

Default initialisation (as PyTorch's): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = in_channels / groups * kernel_size, drawn from fastnn's generator.
"""
import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn import _spatial1d as s1
from fastnn.nn.conv import init_parameters
from fastnn.nn.module import Module, register

__all__ = ["Conv1d"]

# padding_mode -> pad2d's mode code (csrc/frame/pad.cpp).
_PAD_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}


@register
class Conv1d(Module):
    """1-D convolution over (N, C, L) input (or one (C, L) sample).

    weight: (out_channels, in_channels/groups, kernel_size); bias: (out_channels,).
    Output length: (L + left + right - dilation*(kernel_size-1) - 1) // stride + 1, with
    left = right = padding, or for padding='same' (stride 1 only) left = total // 2 and
    right = total - left, total = dilation*(kernel_size-1) (PyTorch's split), 'valid' = 0.
    padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular'.

    Pruning (fastnn.prune): a ``weight.mask`` is applied as in Conv2d.
    """

    _per_call = ("_saved",)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        self.in_channels = sp.positive_int(in_channels, "in_channels", name)
        self.out_channels = sp.positive_int(out_channels, "out_channels", name)
        self.groups = sp.positive_int(groups, "groups", name)
        self.kernel_size = (s1.single(kernel_size, "kernel_size", name, 1),)
        self.stride = (s1.single(stride, "stride", name, 1),)
        self.dilation = (s1.single(dilation, "dilation", name, 1),)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups ({self.groups}) must divide in_channels "
                             f"({self.in_channels}) and out_channels ({self.out_channels})")
        if not isinstance(padding_mode, str) or padding_mode not in _PAD_MODES:
            raise ValueError(f"{name}: padding_mode: expected 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding: expected an int, a 1-tuple, 'same' or "
                                 f"'valid', got {padding!r}")
            if padding == "same" and self.stride != (1,):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride "
                                 f"{self.stride[0]}")
            self.padding = padding
            total = self.dilation[0] * (self.kernel_size[0] - 1) if padding == "same" else 0
            self._lr = (total // 2, total - total // 2)
        else:
            self.padding = (s1.single(padding, "padding", name, 0),)
            self._lr = (self.padding[0], self.padding[0])
        init_parameters(self, (self.out_channels, self.in_channels // self.groups,
                               self.kernel_size[0]), self.out_channels, bias)
        self._saved = None

    def _split_padding(self):
        """(the conv's own symmetric padding, the (left, right) a pad2d copy adds first)."""
        left, right = self._lr
        if self.padding_mode != "zeros":
            return 0, (left, right)
        p = min(left, right)
        return p, (left - p, right - p)

    def _w4(self, a):
        return a.reshape(a.shape[0], a.shape[1], 1, a.shape[2])

    def forward(self, x):
        x4, unbatched = s1.as_input(x, repr(self), self.in_channels)
        p, extra = self._split_padding()
        if any(extra):
            x4 = s1.frame(repr(self), x, _C.pad2d_forward, x4, (0, 0) + extra,
                          _PAD_MODES[self.padding_mode], 0.0)
        w = self.weight
        if w.mask is not None:  # [prune] a pruned weight is re-masked in place: see fastnn.prune
            _C.mask_apply(w.data, w.mask)
        bias = None if self.bias is None else self.bias.data
        y4 = s1.frame(repr(self), x, _C.conv2d_forward, x4, self._w4(w.data), bias,
                      (1,) + self.stride, (0, p), (1,) + self.dilation, self.groups, "auto")
        y = s1.out3(y4, unbatched)
        self._saved = (x4, extra, np.shape(x), (unbatched, y.shape))
        return y

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        x4, extra, in_shape, out = self._saved
        g = s1.grad4(grad_out, out, repr(self))
        p = self._split_padding()[0]
        w = self.weight
        dw = sp.grad_of(w)
        dx = _C.conv2d_backward(x4, g, self._w4(w.data), (1,) + self.stride, (0, p),
                                (1,) + self.dilation, self.groups, True,
                                None if dw is None else self._w4(dw), sp.grad_of(self.bias),
                                "auto")
        if w.mask is not None and w.requires_grad:  # [prune] pruned weights get no gradient
            _C.mask_apply(w.grad, w.mask)
        if any(extra):
            full = (dx.shape[0], dx.shape[1], 1, dx.shape[3] - sum(extra))
            dx = _C.pad2d_backward(dx, full, (0, 0) + extra, _PAD_MODES[self.padding_mode])
        return dx.reshape(in_shape)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding not in ((0,), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size[0], "stride": self.stride[0],
                "padding": self.padding if isinstance(self.padding, str) else self.padding[0],
                "dilation": self.dilation[0], "groups": self.groups,
                "bias": self.bias is not None, "padding_mode": self.padding_mode}
