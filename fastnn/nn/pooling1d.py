"""MaxPool1d and AvgPool1d over (N, C, L) (PyTorch's names and arguments): the 2-D pool frame
(fastnn._C.maxpool2d_* / avgpool2d_*, csrc/frame/pool.cpp) on the (N, C, 1, L) view with a
(1, k) window; AdaptiveAvgPool1d(1) / AdaptiveMaxPool1d(1) the global pools on that view.
GlobalMaxPool2d, AdaptiveAvgPool2d(1) and AdaptiveMaxPool2d(1) over (N, C, H, W): MaxPool2d's
frame with one window over the whole plane, GlobalAvgPool2d."""
import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn import _spatial1d as s1
from fastnn.nn.module import Module, register
from fastnn.nn.pooling import GlobalAvgPool2d, _AvgOptions, _Pool2d

__all__ = ["MaxPool1d", "AvgPool1d", "GlobalMaxPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
           "AdaptiveAvgPool1d", "AdaptiveMaxPool1d"]


def _backward_saved(layer, grad_out):
    """The backward of a 1-D pool run on its (N, C, 1, L) view: ``layer._saved`` holds the
    unbatched flag and output shape, the argmax, the 4-D and the original input shapes."""
    g = s1.grad4(grad_out, layer._saved and layer._saved[0], repr(layer))
    _, argmax, shape4, in_shape = layer._saved
    return layer._backward4(g, argmax, shape4).reshape(in_shape)


class _Pool1d(_Pool2d):
    """The 2-D pool's checks on the (1, k) window; 1-D arguments, repr and config."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        name = type(self).__name__
        k = s1.single(kernel_size, "kernel_size", name, 1)
        s = k if stride is None else s1.single(stride, "stride", name, 1)
        p = s1.single(padding, "padding", name, 0)
        d = s1.single(dilation, "dilation", name, 1)
        if 2 * p > d * (k - 1) + 1:
            raise ValueError(f"{name}: padding {p} must be at most half of kernel_size {k}"
                             + (f" (dilated: {d * (k - 1) + 1})" if d != 1 else ""))
        super().__init__((1, k), (1, s), (0, p), (1, d), ceil_mode)

    def forward(self, x):
        x4, unbatched = s1.as_input(x, repr(self))
        y4, argmax = s1.frame(repr(self), x, self._forward4, x4)
        y = s1.out3(y4, unbatched)
        self._saved = ((unbatched, y.shape), argmax, x4.shape, np.shape(x))
        return y

    def backward(self, grad_out):
        return _backward_saved(self, grad_out)

    def extra_repr(self):
        s = (f"kernel_size={self.kernel_size[1]}, stride={self.stride[1]}, "
             f"padding={self.padding[1]}")
        if self.dilation[1] != 1:
            s += f", dilation={self.dilation[1]}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        return s

    def get_config(self):
        c = {"kernel_size": self.kernel_size[1], "stride": self.stride[1],
             "padding": self.padding[1]}
        if self.dilation[1] != 1:
            c["dilation"] = self.dilation[1]
        if self.ceil_mode:
            c["ceil_mode"] = True
        return c


@register
class MaxPool1d(_Pool1d):
    """Max over windows of kernel_size (``dilation`` apart) along L; padding counts as -inf; NaN
    propagates; ``ceil_mode`` rounds the output length up (PyTorch's rule). stride defaults to
    kernel_size. PyTorch's ``MaxPool1d(kernel_size, stride, padding, dilation,
    return_indices=False, ceil_mode)``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        if return_indices:
            raise ValueError("MaxPool1d: return_indices=True is not supported (the indices stay "
                             "inside the layer for its backward)")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def _forward4(self, x4):
        return _C.maxpool2d_forward(x4, self.kernel_size, self.stride, self.padding,
                                    self.dilation, self.ceil_mode)

    def _backward4(self, g, argmax, shape4):
        return _C.maxpool2d_backward(g, argmax, shape4, self.kernel_size, self.stride,
                                     self.padding, self.dilation, self.ceil_mode)


@register
class AvgPool1d(_AvgOptions, _Pool1d):
    """Mean over windows of kernel_size along L. count_include_pad=True (PyTorch's default): the
    zero padding counts; False: only the elements inside the input. ceil_mode rounds the output
    length up. PyTorch's ``AvgPool1d(kernel_size, stride, padding, ceil_mode,
    count_include_pad)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        count_include_pad = self._count_pad(count_include_pad)
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad

    def _forward4(self, x4):
        return _C.avgpool2d_forward(x4, self.kernel_size, self.stride, self.padding,
                                    self.ceil_mode, self.count_include_pad), None

    def _backward4(self, g, argmax, shape4):
        return _C.avgpool2d_backward(g, shape4, self.kernel_size, self.stride, self.padding,
                                     self.ceil_mode, self.count_include_pad)


@register
class GlobalMaxPool2d(Module):
    """Max over the whole H x W plane: (N, C, H, W) -> (N, C), or (N, C, 1, 1) with keepdim=True
    (PyTorch's AdaptiveMaxPool2d(1); ONNX GlobalMaxPool). NaN propagates; the gradient goes to
    the first maximum, as MaxPool2d's."""

    _per_call = ("_saved",)

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = bool(keepdim)
        self._saved = None

    def forward(self, x):
        x = sp.as_input(x, repr(self), (4,))
        if x.shape[2] * x.shape[3] == 0:
            raise ValueError(f"{self!r}: input: expected a non-empty H x W plane, got shape "
                             f"{x.shape}")
        k = (x.shape[2], x.shape[3])
        y, argmax = _C.maxpool2d_forward(x, k, k, (0, 0), (1, 1), False)
        self._saved = (argmax, x.shape)
        return y if self.keepdim else y.reshape(y.shape[:2])

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        argmax, shape = self._saved
        n, c = shape[:2]
        g = sp.check_grad(grad_out, (n, c, 1, 1) if self.keepdim else (n, c), repr(self))
        k = (shape[2], shape[3])
        return _C.maxpool2d_backward(g.reshape(n, c, 1, 1), argmax, shape, k, k, (0, 0), (1, 1),
                                     False)

    def extra_repr(self):
        return "keepdim=True" if self.keepdim else ""

    def get_config(self):
        return {"keepdim": self.keepdim}


def _output_size_one(output_size, name):
    ok = output_size == 1 or (isinstance(output_size, (tuple, list)) and
                              tuple(output_size) == (1, 1))
    if isinstance(output_size, (bool, np.bool_)) or not ok:
        raise ValueError(f"{name}: output_size: only 1 or (1, 1) is supported (global pooling), "
                         f"got {output_size!r}")


@register
class AdaptiveAvgPool2d(GlobalAvgPool2d):
    """PyTorch's AdaptiveAvgPool2d for output_size 1 only: (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, output_size):
        _output_size_one(output_size, type(self).__name__)
        super().__init__(keepdim=True)

    def extra_repr(self):
        return "output_size=1"

    def get_config(self):
        return {"output_size": 1}


@register
class AdaptiveMaxPool2d(GlobalMaxPool2d):
    """PyTorch's AdaptiveMaxPool2d for output_size 1 only (return_indices=False):
    (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, output_size, return_indices=False):
        _output_size_one(output_size, type(self).__name__)
        if return_indices:
            raise ValueError("AdaptiveMaxPool2d: return_indices=True is not supported")
        super().__init__(keepdim=True)

    def extra_repr(self):
        return "output_size=1"

    def get_config(self):
        return {"output_size": 1}


class _AdaptivePool1d(Module):
    """Output length 1 over (N, C, L) or (C, L): the 2-D frame's global pool on (N, C, 1, L)."""

    _per_call = ("_saved",)

    def __init__(self, output_size):
        super().__init__()
        name = type(self).__name__
        if isinstance(output_size, (bool, np.bool_)) or output_size not in (1, (1,), [1]):
            raise ValueError(f"{name}: output_size: only 1 is supported (global pooling), got "
                             f"{output_size!r}")
        self._saved = None

    def forward(self, x):
        x4, unbatched = s1.as_input(x, repr(self))
        if x4.shape[3] == 0:
            raise ValueError(f"{self!r}: input: expected a non-empty length L, got shape "
                             f"{np.shape(x)}")
        y4, argmax = self._forward4(x4)
        y = s1.out3(y4.reshape(x4.shape[0], x4.shape[1], 1, 1), unbatched)
        self._saved = ((unbatched, y.shape), argmax, x4.shape, np.shape(x))
        return y

    def backward(self, grad_out):
        return _backward_saved(self, grad_out)

    def extra_repr(self):
        return "output_size=1"

    def get_config(self):
        return {"output_size": 1}


@register
class AdaptiveAvgPool1d(_AdaptivePool1d):
    """PyTorch's AdaptiveAvgPool1d for output_size 1 only: the mean over L, (N, C, L) -> (N, C, 1)
    (ONNX GlobalAveragePool on a 3-D tensor)."""

    def _forward4(self, x4):
        return _C.global_avgpool_forward(x4), None

    def _backward4(self, g, argmax, shape4):
        return _C.global_avgpool_backward(g.reshape(shape4[0], shape4[1]), shape4)


@register
class AdaptiveMaxPool1d(_AdaptivePool1d):
    """PyTorch's AdaptiveMaxPool1d for output_size 1 only (return_indices=False): the max over L,
    (N, C, L) -> (N, C, 1) (ONNX GlobalMaxPool on a 3-D tensor); NaN propagates."""

    def __init__(self, output_size, return_indices=False):
        if return_indices:
            raise ValueError("AdaptiveMaxPool1d: return_indices=True is not supported")
        super().__init__(output_size)

    def _forward4(self, x4):
        k = (1, x4.shape[3])
        return _C.maxpool2d_forward(x4, k, k, (0, 0), (1, 1), False)

    def _backward4(self, g, argmax, shape4):
        k = (1, shape4[3])
        return _C.maxpool2d_backward(g, argmax, shape4, k, k, (0, 0), (1, 1), False)
