"""MaxPool2d, AvgPool2d and GlobalAvgPool2d (NCHW). Arithmetic: fastnn._C (csrc/frame/pool.cpp,
leaves vectorised across the output width)."""
import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, register


class _Pool2d(Module):
    _per_call = ("_saved",)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = sp.pair(kernel_size, "kernel_size", name, 1)
        self.stride = self.kernel_size if stride is None else sp.pair(stride, "stride", name, 1)
        self.padding = sp.pair(padding, "padding", name, 0)
        self.dilation = sp.pair(dilation, "dilation", name, 1)
        if not isinstance(ceil_mode, (bool, np.bool_)):
            raise TypeError(f"{name}: ceil_mode: expected True or False, got {ceil_mode!r}")
        self.ceil_mode = bool(ceil_mode)
        span = self._span()
        for d in range(2):
            if 2 * self.padding[d] > span[d]:
                raise ValueError(f"{name}: padding {sp.show(self.padding)} must be at most half "
                                 f"of kernel_size {sp.show(self.kernel_size)}"
                                 + (f" (dilated: {sp.show(span)})" if span != self.kernel_size
                                    else ""))
        self._saved = None

    def _span(self):
        return tuple(self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(2))

    def _prepare(self, x):
        x = sp.as_input(x, repr(self), (3, 4))
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        # A window larger than the padded input: pool2d_check_geom (csrc/frame/pool.cpp) says so.
        return x, unbatched

    def _grad(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        unbatched, out_shape = self._saved[0], self._saved[1]
        g = sp.check_grad(grad_out, out_shape, repr(self))
        return (g[None] if unbatched else g), unbatched

    def _plain(self, p):
        return p[0] if p[0] == p[1] else p

    def extra_repr(self):
        s = (f"kernel_size={self._plain(self.kernel_size)}, stride={self._plain(self.stride)}, "
             f"padding={self._plain(self.padding)}")
        if self.dilation != (1, 1):
            s += f", dilation={self._plain(self.dilation)}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        return s

    def get_config(self):
        c = {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
             "padding": list(self.padding)}
        if self.dilation != (1, 1):  # files written before these options load unchanged
            c["dilation"] = list(self.dilation)
        if self.ceil_mode:
            c["ceil_mode"] = True
        return c


@register
class MaxPool2d(_Pool2d):
    """Max over kh x kw windows (``dilation`` apart); padding counts as -inf; NaN propagates;
    ``ceil_mode`` rounds the output size up (PyTorch's rule). stride defaults to kernel_size.
    PyTorch's ``MaxPool2d(kernel_size, stride, padding, dilation, return_indices=False,
    ceil_mode)``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported (the indices stay "
                             "inside the layer for its backward)")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        x, unbatched = self._prepare(x)
        y, argmax = _C.maxpool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                         self.dilation, self.ceil_mode)
        out = y[0] if unbatched else y
        self._saved = (unbatched, out.shape, argmax, x.shape)
        return out

    def backward(self, grad_out):
        g, unbatched = self._grad(grad_out)
        _, _, argmax, in_shape = self._saved
        dx = _C.maxpool2d_backward(g, argmax, in_shape, self.kernel_size, self.stride,
                                   self.padding, self.dilation, self.ceil_mode)
        return dx[0] if unbatched else dx


class _AvgOptions:
    """count_include_pad: its check, repr and config (AvgPool2d, AvgPool1d)."""

    def _count_pad(self, count_include_pad):
        if not isinstance(count_include_pad, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: count_include_pad: expected True or False, "
                            f"got {count_include_pad!r}")
        return bool(count_include_pad)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad
                                       else ", count_include_pad=False")

    def get_config(self):
        c = super().get_config()
        if not self.count_include_pad:
            c["count_include_pad"] = False
        return c


@register
class AvgPool2d(_AvgOptions, _Pool2d):
    """Mean over kh x kw windows. count_include_pad=True (PyTorch's default): the zero padding
    counts, every window divides by kh*kw (by the part inside the padded input when ceil_mode
    lets the last window hang over); False: by its elements inside the input. ceil_mode rounds
    the output size up. stride defaults to kernel_size. PyTorch's ``AvgPool2d(kernel_size, stride,
    padding, ceil_mode, count_include_pad, divisor_override=None)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        if divisor_override is not None:
            raise ValueError(f"AvgPool2d: divisor_override: not supported, got "
                             f"{divisor_override!r} (expected None)")
        count_include_pad = self._count_pad(count_include_pad)
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        x, unbatched = self._prepare(x)
        y = _C.avgpool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                 self.count_include_pad)
        out = y[0] if unbatched else y
        self._saved = (unbatched, out.shape, None, x.shape)
        return out

    def backward(self, grad_out):
        g, unbatched = self._grad(grad_out)
        in_shape = self._saved[3]
        dx = _C.avgpool2d_backward(g, in_shape, self.kernel_size, self.stride, self.padding,
                                   self.ceil_mode, self.count_include_pad)
        return dx[0] if unbatched else dx


@register
class GlobalAvgPool2d(Module):
    """Mean over the whole H x W plane: (N, C, H, W) -> (N, C), or (N, C, 1, 1) with
    keepdim=True (PyTorch's AdaptiveAvgPool2d(1))."""

    _per_call = ("_in_shape",)

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = bool(keepdim)
        self._in_shape = None

    def forward(self, x):
        x = sp.as_input(x, repr(self), (4,))
        if x.shape[2] * x.shape[3] == 0:
            raise ValueError(f"{self!r}: input: expected a non-empty H x W plane, got shape "
                             f"{x.shape}")
        y = _C.global_avgpool_forward(x)
        self._in_shape = x.shape
        return y.reshape(y.shape + (1, 1)) if self.keepdim else y

    def backward(self, grad_out):
        if self._in_shape is None:
            raise sp.not_run(repr(self))
        n, c = self._in_shape[:2]
        g = sp.check_grad(grad_out, (n, c, 1, 1) if self.keepdim else (n, c), repr(self))
        return _C.global_avgpool_backward(g.reshape(n, c), self._in_shape)

    def extra_repr(self):
        return "keepdim=True" if self.keepdim else ""

    def get_config(self):
        return {"keepdim": self.keepdim}


__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"]
