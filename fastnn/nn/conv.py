"""Conv2d and ConvTranspose2d (NCHW). The arithmetic is fastnn._C (csrc/frame/conv2d.cpp).

Default initialisation (as PyTorch's): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = weight.shape[1] * kh * kw (kaiming_uniform with a = sqrt(5)), drawn from
fastnn's generator (fastnn.manual_seed).
"""
import math

import numpy as np

from fastnn import _C
from fastnn._random import generator
from fastnn.nn import _calls
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, Parameter, init_deferred, new_array, register


def init_parameters(module, shape, out_channels, bias):
    """module.weight (shape) and module.bias ((out_channels,) or None) ~ U(-b, b),
    b = 1/sqrt(fan_in), fan_in = the product of shape[1:] (PyTorch's); empty under fastnn.load."""
    bound = 1.0 / math.sqrt(math.prod(shape[1:]))
    if init_deferred():  # fastnn.load: the file's weights follow
        module.weight = Parameter(new_array(shape, name="weight"))
        module.bias = Parameter(new_array(out_channels, name="bias")) if bias else None
    else:
        gen = generator()
        module.weight = Parameter(gen.uniform(-bound, bound, shape).astype(np.float32))
        module.bias = (Parameter(gen.uniform(-bound, bound, out_channels).astype(np.float32))
                       if bias else None)


class _ConvNd(Module):
    """Shared state of Conv2d / ConvTranspose2d: arguments, parameters, saved input."""

    _per_call = ("_x", "_out_shape")

    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, output_padding=0):
        super().__init__()
        name = type(self).__name__
        self.in_channels = sp.positive_int(in_channels, "in_channels", name)
        self.out_channels = sp.positive_int(out_channels, "out_channels", name)
        self.groups = sp.positive_int(groups, "groups", name)
        self.kernel_size = sp.pair(kernel_size, "kernel_size", name, 1)
        self.stride = sp.pair(stride, "stride", name, 1)
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding: expected an int or a pair of ints >= 0, got "
                             f"{padding!r} (string padding modes are not supported)")
        self.padding = sp.pair(padding, "padding", name, 0)
        self.dilation = sp.pair(dilation, "dilation", name, 1)
        self.output_padding = sp.pair(output_padding, "output_padding", name, 0)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups ({self.groups}) must divide in_channels "
                             f"({self.in_channels}) and out_channels ({self.out_channels})")
        for d in range(2):
            op = self.output_padding[d]
            if op and op >= self.stride[d] and op >= self.dilation[d]:
                raise ValueError(f"{name}: output_padding {sp.show(self.output_padding)} must be "
                                 f"smaller than stride {sp.show(self.stride)} or dilation "
                                 f"{sp.show(self.dilation)}")
        kh, kw = self.kernel_size
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, kh, kw)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        init_parameters(self, shape, self.out_channels, bias)
        self._x = None
        self._out_shape = None

    def _bias_data(self):
        return None if self.bias is None else self.bias.data

    def _prepare(self, x):
        """Checked float32 NCHW input (batched) and whether the caller passed one image."""
        x = sp.as_input(x, repr(self), (3, 4), self.in_channels)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        # A kernel larger than the padded input: conv2d_check_geom (csrc/frame/conv2d.cpp) says so.
        return x, unbatched

    def _backward_common(self, grad_out):
        if self._x is None:
            raise sp.not_run(repr(self))
        unbatched, shape = self._out_shape
        g = sp.check_grad(grad_out, shape, repr(self))
        return (g[None] if unbatched else g), unbatched

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={sp.show(self.kernel_size)}, "
             f"stride={sp.show(self.stride)}")
        if self.padding != (0, 0):
            s += f", padding={sp.show(self.padding)}"
        if self._transposed and self.output_padding != (0, 0):
            s += f", output_padding={sp.show(self.output_padding)}"
        if self.dilation != (1, 1):
            s += f", dilation={sp.show(self.dilation)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


@register
class Conv2d(_ConvNd):
    """2-D convolution over NCHW input (or one CHW image).

    weight: (out_channels, in_channels/groups, kh, kw); bias: (out_channels,).
    Output size per axis: (size + 2*padding - dilation*(k-1) - 1) // stride + 1.
    groups == in_channels (with out_channels a multiple of it) is a depthwise convolution.

    algorithm: how the product is computed (fastnn's choice; the result is the same to float
    rounding): ``"auto"`` (default: a rule per input shape, see docs/kernels.md), ``"im2col"``
    (GEMM on im2col panels), ``"direct"`` (the direct kernel), ``"winograd"`` (Winograd
    F(4x4, 3x3): 3x3, stride 1, dilation 1, groups 1 only; about 4x fewer multiplications) or
    ``"winograd_f2"`` (F(2x2, 3x3), smaller rounding error, 2.25x fewer). Training uses it for the
    input gradient too (Winograd when padding <= 2); the weight gradient is always the im2col GEMM.

    Pruning (fastnn.prune): when ``weight.mask`` is set, every forward first multiplies
    ``weight.data`` by the mask in place (pruned weights are exactly zero in every product, even
    after a user wrote into ``.data``), and backward masks ``weight.grad`` the same way.

    bf16 (``Module.to_bf16()``, ``precision == "bf16"``): in eval mode the product runs with
    bfloat16 operands and float32 sums (the im2col GEMM; a depthwise layer stays float32).
    """

    precision = "float32"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, algorithm="auto"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias)
        self.algorithm = sp.conv_algorithm(algorithm, type(self).__name__, self.kernel_size,
                                           self.stride, self.dilation, self.groups,
                                           self.in_channels)

    def forward(self, x):
        x, unbatched = self._prepare(x)
        w = self.weight
        if w.mask is not None:  # [prune] a pruned weight is re-masked in place: see fastnn.prune
            _C.mask_apply(w.data, w.mask)
        algorithm = ("bf16" if self.precision == "bf16" and not self._training
                     else self.algorithm)  # Module.to_bf16(): eval-mode mixed precision
        y = _C.conv2d_forward(x, w.data, self._bias_data(), self.stride, self.padding,
                              self.dilation, self.groups, algorithm)
        self._x = x
        if unbatched:
            y = y[0]
        self._out_shape = (unbatched, y.shape)
        return y

    def backward(self, grad_out):
        g, unbatched = self._backward_common(grad_out)
        need_dx = not _calls.input_grad_skipped()  # backward(..., input_grad=False): no dX
        dx = _C.conv2d_backward(self._x, g, self.weight.data, self.stride, self.padding,
                                self.dilation, self.groups, need_dx, sp.grad_of(self.weight),
                                sp.grad_of(self.bias), self.algorithm)
        w = self.weight
        if w.mask is not None and w.requires_grad:  # [prune] pruned weights get no gradient
            _C.mask_apply(w.grad, w.mask)
        if dx is None:
            return None
        return dx[0] if unbatched else dx

    def get_config(self):
        c = {"in_channels": self.in_channels, "out_channels": self.out_channels,
             "kernel_size": list(self.kernel_size), "stride": list(self.stride),
             "padding": list(self.padding), "dilation": list(self.dilation),
             "groups": self.groups, "bias": self.bias is not None}
        # Only a chosen algorithm is written (binary/ternary convs reuse this and have none).
        algorithm = getattr(self, "algorithm", "auto")
        if algorithm != "auto":
            c["algorithm"] = algorithm
        return c

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.algorithm == "auto" else s + f", algorithm={self.algorithm!r}"


@register
class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution ("deconvolution"), the adjoint of Conv2d.

    weight: (in_channels, out_channels/groups, kh, kw); bias: (out_channels,).
    Output size per axis: (size - 1)*stride - 2*padding + dilation*(k-1) + output_padding + 1.
    """

    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, output_padding)

    def output_shape(self, shape):
        n, _, h, w = shape
        size = [(s - 1) * self.stride[d] - 2 * self.padding[d] +
                self.dilation[d] * (self.kernel_size[d] - 1) + self.output_padding[d] + 1
                for d, s in enumerate((h, w))]
        return (n, self.out_channels, size[0], size[1])

    def forward(self, x):
        x, unbatched = self._prepare(x)
        out = self.output_shape(x.shape)
        if out[2] < 1 or out[3] < 1:
            raise ValueError(f"{self!r}: input: output size {out[2:]} would be empty for input "
                             f"shape {x.shape}")
        y = _C.conv_transpose2d_forward(x, self.weight.data, self._bias_data(), self.stride,
                                        self.padding, self.output_padding, self.dilation,
                                        self.groups)
        self._x = x
        if unbatched:
            y = y[0]
        self._out_shape = (unbatched, y.shape)
        return y

    def backward(self, grad_out):
        g, unbatched = self._backward_common(grad_out)
        dx = _C.conv_transpose2d_backward(self._x, g, self.weight.data, self.stride, self.padding,
                                          self.output_padding, self.dilation, self.groups, True,
                                          sp.grad_of(self.weight), sp.grad_of(self.bias))
        return dx[0] if unbatched else dx

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "output_padding": list(self.output_padding),
                "groups": self.groups, "bias": self.bias is not None,
                "dilation": list(self.dilation)}
