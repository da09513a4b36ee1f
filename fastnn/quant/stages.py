"""The stages of a QuantizedModel's pipeline: each is one C++ call (or a float layer).

uint8 tensors travel between quantized stages with no float round trip; their (scale, zero
point) are fixed at quantize time and known to both neighbours. 4-D uint8 tensors are NHWC
(a pixel's channels contiguous: im2col rows are runs of C bytes, a 1x1 convolution is a plain
GEMM); the float model's tensors stay NCHW. A flattened NHWC tensor ("flat_nhwc") feeds the next
Linear directly: that Linear's weight columns were permuted to NHWC order when it was packed, so
no transpose runs at inference.

Layouts (``in_layout`` / ``out_layout`` of the quantized stages, used by checks and the report):
``["plain"]`` (same order as the float tensor), ``["nhwc"]`` (4-D), ``["flat_nhwc", C, H, W]``.

Each stage saves itself as a JSON config plus named arrays (int8 weights unpacked, float32
scales and biases) and is rebuilt from them: weights are packed again at load.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.module import Sequential, module_from_config

__all__ = ["Quantize", "Dequantize", "QLinear", "QConv2d", "QMaxPool2d", "QGlobalAvgPool2d",
           "QFlatten", "FloatStage", "DynamicLinear", "STAGES", "to_u8", "to_float"]


def _buf(ws, key, shape, dtype):
    """A reusable output array from the workspace ``ws`` (None: let the C++ call allocate).
    Reusing buffers across calls avoids the page faults of fresh multi-megabyte arrays."""
    if ws is None:
        return None
    a = ws.get(key)
    if a is None or a.shape != tuple(shape) or a.dtype != dtype:
        a = np.empty(shape, dtype)
        ws[key] = a
    return a


# -- checks of a stage's settings (a file's description is rebuilt through the constructors) -------
_GEOMETRY_MAX = 2**31 - 1  # kernel sizes, strides, paddings, dilations: C++ int


def _int(v, name, lo, hi=_GEOMETRY_MAX):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) \
            or not lo <= v <= hi:
        raise ValueError(f"{name}: expected an int in [{lo}, {hi}], got {v!r}")
    return int(v)


def _ints(v, name, lo, n=2):
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise ValueError(f"{name}: expected {n} ints >= {lo}, got {v!r}")
    return [_int(x, name, lo) for x in v]


def _scale(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) \
            or not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
    return float(v)


def _zero_point(v, name):
    return _int(v, name, 0, 255)


def _flag(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a bool, got {v!r}")
    return bool(v)


def _layout(v, name):
    """``["plain"]``, ``["nhwc"]`` or ``["flat_nhwc", C, H, W]`` (see the module docstring)."""
    if isinstance(v, (list, tuple)) and v and v[0] in ("plain", "nhwc") and len(v) == 1:
        return list(v)
    if isinstance(v, (list, tuple)) and len(v) == 4 and v[0] == "flat_nhwc":
        return ["flat_nhwc"] + [_int(x, f"{name}[{i + 1}]", 1) for i, x in enumerate(v[1:])]
    raise ValueError(f"{name}: expected ['plain'], ['nhwc'] or ['flat_nhwc', C, H, W], got {v!r}")


def _channel_values(v, n, name, positive):
    a = np.ascontiguousarray(v, np.float32)
    if a.size != n or not np.isfinite(a).all() or (positive and not (a > 0).all()):
        raise ValueError(f"{name}: expected {n} finite values{' > 0' if positive else ''}, got "
                         f"shape {a.shape}")
    return a.reshape(n)


def to_u8(x, q, layout):
    """Quantize a float tensor (the float model's layout) into ``layout`` with ``q``."""
    scale, zp = q
    if layout[0] == "nhwc":
        return _C.quantize_u8(x, scale, zp, True)
    if layout[0] == "flat_nhwc":
        c, h, w = layout[1:]
        return _C.quantize_u8(np.reshape(x, (-1, c, h, w)), scale, zp, True).reshape(len(x), -1)
    return _C.quantize_u8(x, scale, zp)


def to_float(q_arr, q, layout, out=None):
    """Dequantize a uint8 tensor in ``layout`` back to the float model's layout."""
    scale, zp = q
    if layout[0] == "nhwc":
        return _C.dequantize_u8(q_arr, scale, zp, True, out)
    if layout[0] == "flat_nhwc":
        c, h, w = layout[1:]
        n = q_arr.shape[0]
        o = None if out is None else out.reshape(n, c, h, w)
        return _C.dequantize_u8(q_arr.reshape(n, h, w, c), scale, zp, True, o).reshape(n, -1)
    return _C.dequantize_u8(q_arr, scale, zp, False, out)


class Stage:
    """One step of the pipeline. ``op_index``: the float layer it stands for (None for a
    boundary conversion; ``op_end``: the last one, when it covers several); ``name``: that
    layer's name in the float model."""

    quantized = False
    in_layout = out_layout = ("plain",)
    in_q = out_q = None

    def __init__(self, name="", op_index=None, op_end=None):
        if not isinstance(name, str):
            raise ValueError(f"name: expected a string, got {name!r}")
        self.name = name
        self.op_index = None if op_index is None else _int(op_index, "op_index", 0)
        # the last float op it stands for (a convolution with a fused pooling covers two)
        self.op_end = self.op_index if op_end is None else _int(op_end, "op_end", 0)

    def run(self, x, ws=None):
        """The stage's output for ``x``; ``ws``: a dict of reusable output buffers (the
        QuantizedModel's per-thread workspace) or None for a fresh array."""
        raise NotImplementedError

    def config(self):
        return {}

    def tensors(self):
        return {}

    @classmethod
    def from_state(cls, config, tensors, **meta):
        return cls(**config, **meta)

    def nbytes(self):
        return sum(np.asarray(v).nbytes for v in self.tensors().values())

    def describe(self):
        return type(self).__name__


class Quantize(Stage):
    """float -> uint8 (``nhwc``: NCHW float in, NHWC uint8 out)."""

    def __init__(self, scale, zero_point, nhwc=False, **meta):
        super().__init__(**meta)
        self.scale, self.zero_point = _scale(scale, "scale"), _zero_point(zero_point, "zero_point")
        self.nhwc = _flag(nhwc, "nhwc")

    def run(self, x, ws=None):
        shape = (x.shape[0],) + x.shape[2:] + (x.shape[1],) if self.nhwc and x.ndim == 4 \
            else x.shape
        return _C.quantize_u8(x, self.scale, self.zero_point, self.nhwc,
                              _buf(ws, id(self), shape, np.uint8))

    def config(self):
        return {"scale": self.scale, "zero_point": self.zero_point, "nhwc": self.nhwc}

    def describe(self):
        return f"quantize (scale {self.scale:.4g}, zero point {self.zero_point})"


class Dequantize(Stage):
    """uint8 -> float, restoring the float model's layout."""

    def __init__(self, scale, zero_point, layout=("plain",), **meta):
        super().__init__(**meta)
        self.scale, self.zero_point = _scale(scale, "scale"), _zero_point(zero_point, "zero_point")
        self.layout = _layout(layout, "layout")

    def run(self, x, ws=None):
        n = x.shape[0]
        if self.layout[0] == "nhwc" and x.ndim == 4:
            shape = (n, x.shape[3], x.shape[1], x.shape[2])
        elif self.layout[0] == "flat_nhwc":
            shape = (n, int(np.prod(self.layout[1:])))
        else:
            shape = x.shape
        return to_float(x, (self.scale, self.zero_point), self.layout,
                        _buf(ws, id(self), shape, np.float32))

    def config(self):
        return {"scale": self.scale, "zero_point": self.zero_point, "layout": self.layout}

    def describe(self):
        return f"dequantize (scale {self.scale:.4g}, zero point {self.zero_point})"


class _QGemm(Stage):
    """Shared by QLinear / QConv2d: packed int8 weights, per-channel scales, float bias, the
    input's and (uint8 output) the output's quantization parameters."""

    quantized = True

    def __init__(self, weight, weight_scale, bias, in_scale, in_zero_point, out_scale=None,
                 out_zero_point=None, relu=False, **meta):
        super().__init__(**meta)
        weight = np.asarray(weight)
        if weight.dtype != np.int8 or weight.ndim != 2:
            raise ValueError(f"weight: expected a 2-D int8 array, got {weight.dtype} "
                             f"{weight.shape}")
        n = weight.shape[0]
        self.weight_scale = _channel_values(weight_scale, n, "weight_scale", True)
        self.bias = None if bias is None else _channel_values(bias, n, "bias", False)
        self.in_q = (_scale(in_scale, "in_scale"), _zero_point(in_zero_point, "in_zero_point"))
        self.out_q = None if out_scale is None else (_scale(out_scale, "out_scale"),
                                                     _zero_point(out_zero_point, "out_zero_point"))
        self.relu = _flag(relu, "relu")
        self.packed = _C.pack_weights_s8(weight)

    def config(self):
        cfg = {"in_scale": self.in_q[0], "in_zero_point": self.in_q[1], "relu": self.relu}
        if self.out_q is not None:
            cfg.update(out_scale=self.out_q[0], out_zero_point=self.out_q[1])
        return cfg

    def tensors(self):
        t = {"weight": self.packed.unpack(), "weight_scale": self.weight_scale}
        if self.bias is not None:
            t["bias"] = self.bias
        return t

    @classmethod
    def from_state(cls, config, tensors, **meta):
        return cls(tensors["weight"], tensors["weight_scale"], tensors.get("bias"), **config,
                   **meta)

    def _out(self):
        if self.out_q is None:
            return "float32", 1.0, 0
        return "uint8", self.out_q[0], self.out_q[1]


class QLinear(_QGemm):
    """uint8 (N, in) -> uint8 or float32 (N, out): one int8 GEMM, bias and ReLU in its
    epilogue."""

    def __init__(self, weight, weight_scale, bias, in_scale, in_zero_point, out_scale=None,
                 out_zero_point=None, relu=False, in_layout=("plain",), **meta):
        super().__init__(weight, weight_scale, bias, in_scale, in_zero_point, out_scale,
                         out_zero_point, relu, **meta)
        self.in_layout = _layout(in_layout, "in_layout")
        self.out_layout = ("plain",)

    def run(self, x, ws=None):
        k = self.packed.k
        if x.ndim != 2 or x.shape[1] != k:
            raise ValueError(f"{self.name or 'QLinear'}: input: expected shape (N, {k}), got "
                             f"{x.shape}")
        dtype, so, zo = self._out()
        out = _buf(ws, id(self), (x.shape[0], self.packed.n), np.dtype(dtype))
        return _C.gemm_u8s8(x, self.packed, self.in_q[1], dtype, self.in_q[0], self.weight_scale,
                            self.bias, None, so, zo, self.relu, out, -1)

    def config(self):
        return dict(super().config(), in_layout=self.in_layout)

    def describe(self):
        n, k = self.packed.shape
        out = "float32" if self.out_q is None else "uint8"
        return f"int8 Linear({k}, {n}){' + ReLU' if self.relu else ''} -> {out}"


class QConv2d(_QGemm):
    """uint8 NHWC -> uint8 NHWC: im2col over the uint8 input (padding = the input zero point)
    in L2-sized chunks, each one int8 GEMM; a 1x1 stride-1 unpadded convolution is one GEMM on
    the input itself. Weights are (out_channels, kp): rows in im2col order (ky, kx, c), zero
    columns up to kp (a multiple of 4; kp = in_channels for 1x1)."""

    in_layout = out_layout = ("nhwc",)

    def __init__(self, weight, weight_scale, bias, in_scale, in_zero_point, out_scale,
                 out_zero_point, relu, kernel_size, stride, padding, dilation, pool=None,
                 **meta):
        super().__init__(weight, weight_scale, bias, in_scale, in_zero_point, out_scale,
                         out_zero_point, relu, **meta)
        if self.out_q is None:
            raise ValueError("out_scale, out_zero_point: a QConv2d has a uint8 output")
        self.kernel_size = _ints(kernel_size, "kernel_size", 1)
        self.stride = _ints(stride, "stride", 1)
        self.padding = _ints(padding, "padding", 0)
        self.dilation = _ints(dilation, "dilation", 1)
        # A following uint8 max pooling fused in (kernel_size, stride, padding): applied to each
        # chunk of output while it is in L2; exact (max commutes with the requantisation).
        if pool is not None and (not isinstance(pool, (list, tuple)) or len(pool) != 3):
            raise ValueError(f"pool: expected [kernel_size, stride, padding] or None, got "
                             f"{pool!r}")
        self.pool = None if pool is None else [_ints(part, f"pool[{i}]", lo) for i, (part, lo)
                                               in enumerate(zip(pool, (1, 1, 0)))]

    def run(self, x, ws=None):
        out = None
        if ws is not None and x.ndim == 4:
            oh, ow = _C.window_out_size(x.shape[1:3], self.kernel_size, self.stride,
                                        self.padding, self.dilation)
            if self.pool is not None:
                oh, ow = _C.window_out_size((oh, ow), *self.pool)
            out = _buf(ws, id(self), (x.shape[0], oh, ow, self.packed.n), np.uint8)
        return _C.conv2d_u8(x, self.packed, self.kernel_size, self.stride, self.padding,
                            self.dilation, self.packed.k, self.in_q[1], self.in_q[0],
                            self.weight_scale, self.bias, "uint8", self.out_q[0], self.out_q[1],
                            self.relu, out, self.pool)

    def config(self):
        return dict(super().config(), kernel_size=self.kernel_size, stride=self.stride,
                    padding=self.padding, dilation=self.dilation, pool=self.pool)

    def describe(self):
        kh, kw = self.kernel_size
        pool = "" if self.pool is None else f" + MaxPool2d({self.pool[0][0]}x{self.pool[0][1]})"
        return (f"int8 Conv2d(out {self.packed.n}, {kh}x{kw}){' + ReLU' if self.relu else ''}"
                f"{pool}")


class QMaxPool2d(Stage):
    quantized = True
    in_layout = out_layout = ("nhwc",)

    def __init__(self, kernel_size, stride, padding, **meta):
        super().__init__(**meta)
        self.kernel_size = _ints(kernel_size, "kernel_size", 1)
        self.stride = _ints(stride, "stride", 1)
        self.padding = _ints(padding, "padding", 0)

    def run(self, x, ws=None):
        out = None
        if ws is not None and x.ndim == 4:
            oh, ow = _C.window_out_size(x.shape[1:3], self.kernel_size, self.stride,
                                        self.padding)
            out = _buf(ws, id(self), (x.shape[0], oh, ow, x.shape[3]), np.uint8)
        return _C.maxpool2d_u8(x, self.kernel_size, self.stride, self.padding, out)

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def describe(self):
        return f"uint8 MaxPool2d({self.kernel_size[0]}x{self.kernel_size[1]})"


class QGlobalAvgPool2d(Stage):
    """Rounded mean over H x W, same scale and zero point as its input."""

    quantized = True
    in_layout = ("nhwc",)

    def __init__(self, keepdim=False, **meta):
        super().__init__(**meta)
        self.keepdim = _flag(keepdim, "keepdim")
        self.out_layout = ("nhwc",) if self.keepdim else ("plain",)

    def run(self, x, ws=None):
        out = _buf(ws, id(self), (x.shape[0], x.shape[-1]), np.uint8) if x.ndim == 4 else None
        y = _C.global_avgpool_u8(x, out)
        return y.reshape(y.shape[0], 1, 1, y.shape[1]) if self.keepdim else y

    def config(self):
        return {"keepdim": self.keepdim}

    def describe(self):
        return "uint8 GlobalAvgPool2d"


class QFlatten(Stage):
    """(N, ...) -> (N, -1) on uint8: a reshape (NHWC order stays: the next Linear expects it)."""

    quantized = True

    def __init__(self, in_layout=("plain",), out_layout=("plain",), **meta):
        super().__init__(**meta)
        self.in_layout = _layout(in_layout, "in_layout")
        self.out_layout = _layout(out_layout, "out_layout")

    def run(self, x, ws=None):
        return x.reshape(x.shape[0], -1)

    def config(self):
        return {"in_layout": self.in_layout, "out_layout": self.out_layout}

    def describe(self):
        return "uint8 Flatten"


class FloatStage(Stage):
    """Float layers run as they are (eval mode), fused as a Sequential fuses them."""

    def __init__(self, modules, **meta):
        super().__init__(**meta)
        self.modules = list(modules)
        self._seq = Sequential(*self.modules).eval()

    def run(self, x, ws=None):
        return self._seq(x)

    def config(self):
        return {"modules": [m.to_spec() for m in self.modules]}

    def tensors(self):
        return {f"{j}/{k}": v for j, m in enumerate(self.modules)
                for k, v in m.state_dict().items()}

    @classmethod
    def from_state(cls, config, tensors, **meta):
        specs = config.get("modules")
        if not isinstance(specs, list):
            raise ValueError(f"modules: expected a list of layer specs, got {specs!r}"[:200])
        modules = []
        for j, spec in enumerate(specs):
            m = module_from_config(spec, f"modules[{j}]")
            prefix = f"{j}/"
            m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                               if k.startswith(prefix)}, strict=True)
            modules.append(m.eval())
        return cls(modules, **meta)

    def describe(self):
        return "float " + " + ".join(type(m).__name__ for m in self.modules)


class DynamicLinear(Stage):
    """float (N, in) -> float (N, out): the input's scale and zero point from its min/max per
    call (C++), then the int8 GEMM with float32 output, bias and ReLU in the epilogue."""

    quantized = True

    def __init__(self, weight, weight_scale, bias, relu=False, **meta):
        super().__init__(**meta)
        weight = np.asarray(weight)
        if weight.dtype != np.int8 or weight.ndim != 2:
            raise ValueError(f"weight: expected a 2-D int8 array, got {weight.dtype} "
                             f"{weight.shape}")
        n = weight.shape[0]
        self.weight_scale = _channel_values(weight_scale, n, "weight_scale", True)
        self.bias = None if bias is None else _channel_values(bias, n, "bias", False)
        self.relu = _flag(relu, "relu")
        self.packed = _C.pack_weights_s8(weight)

    def run(self, x, ws=None):
        x = np.asarray(x)
        k = self.packed.k
        if x.ndim != 2 or x.shape[1] != k:
            raise ValueError(f"{self.name or 'DynamicLinear'}: input: expected shape (N, {k}), "
                             f"got {x.shape}")
        q, scale, zp = _C.quantize_dynamic_u8(x)
        return _C.gemm_u8s8(q, self.packed, zp, "float32", scale, self.weight_scale, self.bias,
                            None, 1.0, 0, self.relu, None, -1)

    def config(self):
        return {"relu": self.relu}

    def tensors(self):
        t = {"weight": self.packed.unpack(), "weight_scale": self.weight_scale}
        if self.bias is not None:
            t["bias"] = self.bias
        return t

    @classmethod
    def from_state(cls, config, tensors, **meta):
        return cls(tensors["weight"], tensors["weight_scale"], tensors.get("bias"), **config,
                   **meta)

    def describe(self):
        n, k = self.packed.shape
        return f"dynamic int8 Linear({k}, {n}){' + ReLU' if self.relu else ''}"


STAGES = {c.__name__: c for c in (Quantize, Dequantize, QLinear, QConv2d, QMaxPool2d,
                                  QGlobalAvgPool2d, QFlatten, FloatStage, DynamicLinear)}
