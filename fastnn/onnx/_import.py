"""ONNX -> ``nn.Model``: one small converter per operator (onnx2torch's shape). Constant
subgraphs are folded first (``_fold.py``); every other node becomes a fastnn layer called on the
symbolic tensors of its inputs. Unconvertible nodes are collected and reported together."""
import io
import os

import numpy as np

from fastnn import nn
from fastnn.onnx import _onnx
from fastnn.onnx._fold import FOLD, Unsupported, reshape_target
from fastnn.onnx import _import_1d
from fastnn.onnx._import_norm import CONVERTERS as _NORM_CONVERTERS
from fastnn.onnx._patterns import fuse_gelu, fuse_layernorm, fuse_softsign

OPSETS = (9, 21)


class _Ctx:
    def __init__(self, opset):
        self.opset, self.syms, self.consts, self.used = opset, {}, {}, set()

    def sym(self, name, what="input"):
        if name in self.syms:
            return self.syms[name]
        raise Unsupported(f"{what} {name!r} must be a graph tensor, not a constant")

    def const(self, name, what="input"):
        if name in self.consts:
            return self.consts[name]
        raise Unsupported(f"{what} {name!r} must be a constant (an initializer or folded)")


def _pair(v, what):
    v = [int(a) for a in v]
    if len(v) != 2:
        raise Unsupported(f"{what} {v}: only 2-D is supported")
    return tuple(v)


def _pads4(attrs, x_shape, kernel, strides, dilations, what):
    """ONNX pads as (top, bottom, left, right), auto_pad resolved."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for d in range(2):
            n = x_shape[2 + d]
            o = -(-n // strides[d])
            total = max(0, (o - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - n)
            small, big = total // 2, total - total // 2
            out += [small, big] if auto == "SAME_UPPER" else [big, small]
        return tuple(out)
    p = [int(a) for a in attrs.get("pads", [0] * 4)] if auto in ("NOTSET", "") else [0] * 4
    if len(p) != 4:
        raise Unsupported(f"{what}: only 2-D is supported (pads {p})")
    return (p[0], p[2], p[1], p[3])


def _padded(x, attrs, kernel, strides, dilations, what, fill=0.0):
    """(the layer's symmetric padding pair, its input): an asymmetric excess of the ONNX pads
    becomes a ConstantPad2d(fill) applied to x first."""
    t, b, l_, r = _pads4(attrs, x.shape, kernel, strides, dilations, what)
    sym = (min(t, b), min(l_, r))
    extra = (t - sym[0], b - sym[0], l_ - sym[1], r - sym[1])
    if any(extra):  # PyTorch's order: (left, right, top, bottom)
        x = nn.ConstantPad2d((extra[2], extra[3], extra[0], extra[1]), fill)(x)
    return sym, x


def _conv(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    w = ctx.const(node.input[1], "weight")
    b = ctx.const(node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
    if w.ndim == 3:
        return _import_1d.conv1d(x, w, b, attrs)
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D Conv (fastnn has Conv1d and Conv2d)")
    k = tuple(w.shape[2:])
    s = _pair(attrs.get("strides", [1, 1]), "strides")
    d = _pair(attrs.get("dilations", [1, 1]), "dilations")
    p, x = _padded(x, attrs, k, s, d, "Conv")
    g = int(attrs.get("group", 1))
    layer = nn.Conv2d(w.shape[1] * g, w.shape[0], k, s, p, d, g, bias=b is not None)
    layer.weight.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    return layer(x)


def _conv_transpose(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    w = ctx.const(node.input[1], "weight")
    if w.ndim != 4 or "output_shape" in attrs:
        raise Unsupported("only 2-D ConvTranspose without output_shape")
    b = ctx.const(node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
    k = tuple(w.shape[2:])
    s = _pair(attrs.get("strides", [1, 1]), "strides")
    d = _pair(attrs.get("dilations", [1, 1]), "dilations")
    top, bottom, left, right = _pads4(dict(attrs, auto_pad="NOTSET"), x.shape, k, s, d,
                                      "ConvTranspose")
    if top != bottom or left != right:
        raise Unsupported(f"ConvTranspose: asymmetric pads {(top, left, bottom, right)}")
    p = (top, left)
    op = _pair(attrs.get("output_padding", [0, 0]), "output_padding")
    g = int(attrs.get("group", 1))
    layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * g, k, s, p, op, g, b is not None, d)
    layer.weight.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    return layer(x)


def _pool(kind):
    def conv(ctx, node, attrs):
        x = ctx.sym(node.input[0])
        if len(node.output) > 1 and node.output[1] in ctx.used:
            raise Unsupported("MaxPool's Indices output")
        if len(attrs["kernel_shape"]) == 1:
            return _import_1d.pool1d(kind, x, node, attrs)
        k = _pair(attrs["kernel_shape"], "kernel_shape")
        s = _pair(attrs.get("strides", [1, 1]), "strides")
        d = _pair(attrs.get("dilations", [1, 1]), "dilations")
        if kind == "avg" and d != (1, 1):
            raise Unsupported("dilated AveragePool")
        ceil = bool(attrs.get("ceil_mode", 0))
        count_pad = bool(attrs.get("count_include_pad", 0))
        if kind == "max":  # an asymmetric excess is padded with -inf (never the maximum)
            t, b, l_, r = _pads4(attrs, x.shape, k, s, d, node.op_type)
            if (t != b or l_ != r) and ceil:
                raise Unsupported(f"MaxPool with asymmetric pads {(t, l_, b, r)} and ceil_mode=1")
            p, x = _padded(x, attrs, k, s, d, node.op_type, -np.inf)
            layer = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
        else:  # ONNX's default is count_include_pad=0, PyTorch's True
            t, b, l_, r = _pads4(attrs, x.shape, k, s, d, node.op_type)
            asym = t != b or l_ != r
            if asym and not count_pad and _one_window_over_all(x, k, s, (t, b, l_, r), ceil):
                # One window holding the whole input (Caffe's GoogLeNet pool5 as converted to
                # ONNX): with the padding left out of the count it is the global average.
                return nn.GlobalAvgPool2d(keepdim=True)(x)
            if asym and (not count_pad or ceil):
                raise Unsupported(f"AveragePool with asymmetric pads {(t, l_, b, r)} and "
                                  "count_include_pad=0 or ceil_mode=1")
            p, x = _padded(x, attrs, k, s, d, node.op_type)
            layer = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=count_pad)
        return layer(x)
    return conv


def _one_window_over_all(x, kernel, strides, pads, ceil):
    """Whether pooling (N, C, H, W) with these pads gives one output whose window, starting at
    -top/-left, covers every input row and column."""
    t, b, l_, r = pads
    for n, k, s, before, after in ((x.shape[2], kernel[0], strides[0], t, b),
                                   (x.shape[3], kernel[1], strides[1], l_, r)):
        if not isinstance(n, int):
            return False
        span = n + before + after - k
        if span < 0 or (-(-span // s) if ceil else span // s) != 0 or k - before < n:
            return False
    return True


def _global_avg(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if x.ndim == 3:
        return _import_1d.global_pool("avg")(ctx, node, attrs)
    if x.ndim != 4:
        raise Unsupported("GlobalAveragePool on a non-4-D input")
    return nn.GlobalAvgPool2d(keepdim=True)(x)


def _batchnorm(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    scale, bias, mean, var = (ctx.const(n, "BatchNormalization parameter")
                              for n in node.input[1:5])
    if x.ndim not in (2, 3, 4, 5):
        raise Unsupported(f"BatchNormalization on a {x.ndim}-D input")
    if not attrs.get("spatial", 1):
        raise Unsupported("BatchNormalization with spatial=0 (statistics per element)")
    cls = {4: nn.BatchNorm2d, 5: nn.BatchNorm3d}.get(x.ndim, nn.BatchNorm1d)
    layer = cls(scale.shape[0], eps=float(attrs.get("epsilon", 1e-5)),
                momentum=1.0 - float(attrs.get("momentum", 0.9)))
    layer.weight.data[...] = scale
    layer.bias.data[...] = bias
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    return layer(x)


def _lrn(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    size = int(attrs["size"]) if "size" in attrs else None
    if size is None or size < 1:
        raise Unsupported(f"LRN with size {size} (a required attribute >= 1)")
    if size % 2 == 0:
        # ONNX centres an even window one channel later than PyTorch (and onnxruntime refuses it).
        raise Unsupported(f"LRN with an even size ({size})")
    if x.ndim < 3:
        raise Unsupported(f"LRN on a {x.ndim}-D input")
    # ONNX's alpha is divided by size like PyTorch's: the attributes map one to one.
    return nn.LocalResponseNorm(size, alpha=float(attrs.get("alpha", 1e-4)),
                                beta=float(attrs.get("beta", 0.75)),
                                k=float(attrs.get("bias", 1.0)))(x)


def _linear(weight, bias, x):
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    layer.weight.data[...] = weight
    if bias is not None:
        layer.bias.data[...] = bias
    return layer(x)


def _gemm(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if attrs.get("transA", 0) or x.ndim != 2:
        raise Unsupported("Gemm with transA=1 or a non-2-D A")
    b = ctx.const(node.input[1], "B")
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    w = b if attrs.get("transB", 0) else b.T
    w = w if alpha == 1.0 else w * np.float32(alpha)
    c = None
    if len(node.input) > 2 and node.input[2]:
        c = np.asarray(ctx.const(node.input[2], "C"), np.float32)
        if c.size not in (1, w.shape[0]):
            raise Unsupported(f"Gemm with C of shape {c.shape} (a per-row bias)")
        c = np.broadcast_to(c.reshape(-1), (w.shape[0],)) * (np.float32(beta) if beta != 1 else 1)
    return _linear(np.ascontiguousarray(w, np.float32), c, x)


def _matmul(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    b = ctx.const(node.input[1], "B")
    if x.ndim != 2 or b.ndim != 2:
        raise Unsupported("MatMul other than (N, K) @ constant (K, M)")
    return _linear(np.ascontiguousarray(b.T, np.float32), None, x)


def _binary(ctx, node, attrs):
    op = node.op_type
    names = [n for n in node.input if n]
    if all(n in ctx.syms for n in names):
        xs = [ctx.syms[n] for n in names]
        if op in ("Add", "Sum"):
            return xs[0] if len(xs) == 1 else nn.Add()(*xs)
        if op == "Mul" and len(xs) == 2:
            return nn.Multiply()(*xs)
        if op == "Sub":
            return nn.Add()(xs[0], nn.MulConstant(np.float32(-1))(xs[1]))
        raise Unsupported(f"{op} of two graph tensors")
    if len(names) != 2:
        raise Unsupported(f"{op} of {len(names)} inputs with constants")
    first_const = names[0] in ctx.consts
    x = ctx.sym(names[1] if first_const else names[0])
    c = np.asarray(ctx.const(names[0] if first_const else names[1]), np.float32)
    if op in ("Add", "Sum"):
        return nn.AddConstant(c)(x)
    if op == "Mul":
        return nn.MulConstant(c)(x)
    if op == "Sub":
        return nn.AddConstant(c)(nn.MulConstant(np.float32(-1))(x)) if first_const else \
            nn.AddConstant(-c)(x)
    if op == "Div" and not first_const:
        return nn.MulConstant(np.float32(1) / c)(x)
    raise Unsupported(f"{op} with a constant first operand")


def _concat(ctx, node, attrs):
    xs = [ctx.sym(n) for n in node.input if n]
    axis = int(attrs["axis"]) % xs[0].ndim
    if axis == 0:
        raise Unsupported("Concat along the batch axis")
    return nn.Concat(axis)(*xs)


def _split(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    axis = int(attrs.get("axis", 0)) % x.ndim
    if axis == 0:
        raise Unsupported("Split along the batch axis")
    if "split" in attrs:
        sizes = [int(v) for v in attrs["split"]]
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in ctx.const(node.input[1], "split")]
    else:
        n, k = x.shape[axis], len(node.output)
        sizes = [-(-n // k)] * (k - 1) + [n - -(-n // k) * (k - 1)]
    return nn.Split(sizes, axis)(x)


def _per_sample(x, out_shape, what):
    """A Reshape layer for an output shape whose dimension 0 is the batch."""
    if any(d is None for d in out_shape[1:]):
        raise Unsupported(f"{what}: the batch size moves to another axis")
    return nn.Reshape(tuple(out_shape[1:]))(x)


def _reshape(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    shape = ctx.const(node.input[1], "shape")
    t = reshape_target(list(shape), x.shape, attrs.get("allowzero", 0))
    return _per_sample(x, t, "Reshape")


def _flatten(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    axis = int(attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis  # ONNX: axis in [-rank, rank]
    if axis == x.ndim == 1:  # (N,) -> (N, 1)
        return nn.Reshape((1,))(x)
    if axis != 1:  # the output is 2-D, (prod(shape[:axis]), prod(shape[axis:])): only axis 1
        raise Unsupported(f"Flatten(axis={attrs.get('axis', 1)}) merges the batch")  # keeps N
    return nn.Flatten()(x)


def _squeeze_like(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    args = [np.zeros((2,) + x.shape[1:], np.float32)] + [
        ctx.consts.get(n) for n in node.input[1:]]
    out = FOLD[node.op_type](node, args, attrs, ctx.opset)
    if out.ndim == 0 or out.shape[0] != 2:
        raise Unsupported(f"{node.op_type} that moves the batch axis")
    return nn.Reshape(out.shape[1:])(x)


def _transpose(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    perm = [int(p) for p in attrs.get("perm", range(x.ndim)[::-1])]
    if perm[0] != 0:
        raise Unsupported(f"Transpose perm {perm} moves the batch axis")
    return nn.Transpose(perm[1:])(x)


def _softmax_like(layer):
    """Softmax / LogSoftmax: the axis (default 1 before opset 13, -1 from 13); before opset 13
    ONNX coerces the input to 2-D at the axis, which is the same only when the later axes are 1."""
    name = layer.__name__

    def convert(ctx, node, attrs):
        x = ctx.sym(node.input[0])
        axis = int(attrs.get("axis", 1 if ctx.opset < 13 else -1)) % x.ndim
        if ctx.opset < 13 and int(np.prod(x.shape[axis + 1:])) != 1:
            raise Unsupported(f"opset-{ctx.opset} {name}(axis={axis}) over several trailing axes")
        return layer(axis)(x)
    return convert


_softmax = _softmax_like(nn.Softmax)


def _dropout(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if len(node.output) > 1 and node.output[1] in ctx.used:
        raise Unsupported("Dropout's mask output")
    p = attrs.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        p = float(ctx.const(node.input[1], "ratio"))
    return nn.Dropout(float(p))(x)


def _pad(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    layers = {"constant": None, "reflect": nn.ReflectionPad2d, "edge": nn.ReplicationPad2d,
              "wrap": nn.CircularPad2d}
    if mode not in layers:
        raise Unsupported(f"Pad mode {mode!r}")
    if ctx.opset < 11:
        pads, value = list(attrs.get("pads", [])), float(attrs.get("value", 0.0))
    else:
        pads = [int(v) for v in ctx.const(node.input[1], "pads")]
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = float(np.asarray(ctx.const(node.input[2], "constant_value")).reshape(-1)[0])
        if len(node.input) > 3 and node.input[3]:
            axes = [int(a) % x.ndim for a in ctx.const(node.input[3], "axes")]
            full = [0] * (2 * x.ndim)
            for i, a in enumerate(axes):
                full[a], full[a + x.ndim] = pads[i], pads[i + len(axes)]
            pads = full
    if x.ndim == 3:
        return _import_1d.pad1d(x, pads, mode, value)
    if x.ndim != 4 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
        raise Unsupported(f"Pad of a {x.ndim}-D tensor with pads {pads} (2-D spatial padding of "
                          "(N, C, H, W) only)")
    if min(pads) < 0:
        raise Unsupported(f"Pad with negative pads {pads} (cropping)")
    torch_order = (pads[3], pads[7], pads[2], pads[6])  # (left, right, top, bottom)
    if mode == "constant":
        return nn.ConstantPad2d(torch_order, value)(x)
    return layers[mode](torch_order)(x)


def _act(make):
    return lambda ctx, node, attrs: make(attrs)(ctx.sym(node.input[0]))


def _gelu(attrs):
    a = attrs.get("approximate", b"none")
    return nn.GELU(a.decode() if isinstance(a, bytes) else a)


def _selu(attrs):
    if abs(attrs.get("alpha", 1.67326319217681884765625) - 1.6732632) > 1e-6 or \
            abs(attrs.get("gamma", 1.05070102214813232421875) - 1.0507010) > 1e-6:
        raise Unsupported("Selu with non-default alpha/gamma")
    return nn.SELU()


_log_softmax = _softmax_like(nn.LogSoftmax)


def _prelu(ctx, node, attrs):
    """PRelu with a constant slope broadcast (unidirectionally) onto the input: one value, or one
    per channel (axis 1), as PyTorch writes PReLU (shape (C, 1, 1) for NCHW). A 1-D slope of C
    values that cannot broadcast onto the last axis is read per channel: the opset < 7 meaning,
    which files from old exporters keep after onnx.version_converter."""
    x = ctx.sym(node.input[0])
    slope = np.asarray(ctx.const(node.input[1], "slope"), np.float32)
    if slope.size == 1:
        layer = nn.PReLU(1)
    elif slope.ndim == 1 and x.ndim > 2 and slope.size == x.shape[1] != x.shape[-1]:
        layer = nn.PReLU(slope.size)
    else:
        shape = (1,) * (x.ndim - slope.ndim) + slope.shape
        if slope.ndim > x.ndim or x.ndim < 2 or shape[1] != x.shape[1] or \
                int(np.prod(shape)) != shape[1]:
            raise Unsupported(f"PRelu with a slope of shape {slope.shape} on an input of shape "
                              f"{tuple(x.shape)} (one slope, or one per channel of axis 1)")
        layer = nn.PReLU(shape[1])
    layer.weight.data[...] = slope.reshape(-1)
    return layer(x)


def _clip(ctx, node, attrs):
    """Clip with constant bounds: ReLU6 for (0, 6), ReLU for (0, none), else Hardtanh."""
    x = ctx.sym(node.input[0])
    if ctx.opset < 11:
        lo, hi = float(attrs.get("min", -np.inf)), float(attrs.get("max", np.inf))
    else:
        def bound(i, what, default):
            if len(node.input) > i and node.input[i]:
                return float(np.asarray(ctx.const(node.input[i], what)).reshape(-1)[0])
            return default
        lo, hi = bound(1, "min", -np.inf), bound(2, "max", np.inf)
    # opset < 11 writes "no bound" as the float limits
    lo = -np.inf if lo <= -3.4e38 else lo
    hi = np.inf if hi >= 3.4e38 else hi
    if lo == 0.0 and hi == 6.0:
        return nn.ReLU6()(x)
    if lo == 0.0 and hi == np.inf:
        return nn.ReLU()(x)
    if not lo < hi:
        raise Unsupported(f"Clip with min {lo} >= max {hi}")
    return nn.Hardtanh(lo, hi)(x)


def _hardsigmoid(attrs):
    return nn.Hardsigmoid(float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5)))


CONVERTERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"), "GlobalAveragePool": _global_avg,
    "BatchNormalization": _batchnorm, "LRN": _lrn, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary, "Sum": _binary,
    "Concat": _concat, "Split": _split, "Reshape": _reshape, "Flatten": _flatten,
    "Squeeze": _squeeze_like, "Unsqueeze": _squeeze_like, "Transpose": _transpose,
    "Softmax": _softmax, "Dropout": _dropout, "Pad": _pad,
    "Identity": lambda ctx, node, attrs: ctx.sym(node.input[0]),
    "Neg": _act(lambda a: nn.MulConstant(np.float32(-1))),
    "Relu": _act(lambda a: nn.ReLU()), "Sigmoid": _act(lambda a: nn.Sigmoid()),
    "Tanh": _act(lambda a: nn.Tanh()), "Selu": _act(_selu), "Gelu": _act(_gelu),
    "LeakyRelu": _act(lambda a: nn.LeakyReLU(float(a.get("alpha", 0.01)))),
    "Elu": _act(lambda a: nn.ELU(float(a.get("alpha", 1.0)))),
    "PRelu": _prelu, "Clip": _clip, "HardSigmoid": _act(_hardsigmoid),
    "HardSwish": _act(lambda a: nn.Hardswish()), "Softplus": _act(lambda a: nn.Softplus()),
    "Softsign": _act(lambda a: nn.Softsign()), "LogSoftmax": _log_softmax,
    "GlobalMaxPool": _import_1d.global_pool("max"),
}
# [LayerNorm, Embedding, reductions (issue 14)]
CONVERTERS.update(_NORM_CONVERTERS)

# [resize and depth <-> space (issue 14)]
from fastnn.onnx._import_resize import CONVERTERS as _RESIZE  # noqa: E402

CONVERTERS.update(_RESIZE)

# [element-wise math, Tile, InstanceNormalization (issue 14: conformance)]
from fastnn.onnx._import_math import CONVERTERS as _MATH  # noqa: E402

CONVERTERS.update(_MATH)

# [activations declaring their ONNX op (activation.py _onnx_op): no line here per layer (issue 13)]
for _cls in vars(nn.activation).values():
    if isinstance(_cls, type) and getattr(_cls, "_onnx_op", None):
        CONVERTERS.setdefault(_cls._onnx_op[0], _act(lambda a, c=_cls: c()))
SUPPORTED_OPS = sorted(set(CONVERTERS) | set(FOLD))


def _proto(model):
    onnx = _onnx()
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        data, what = bytes(model), "the bytes"
    elif isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            data = f.read()
        what = f"file {os.fspath(model)!r}"
    else:
        raise TypeError(f"fastnn.onnx.load: model: expected a path, bytes or an onnx.ModelProto, "
                        f"got {type(model).__name__}")
    try:
        proto = onnx.load_model(io.BytesIO(data))
    except Exception as e:
        raise ValueError(f"fastnn.onnx.load: {what} is not an ONNX model ({e})") from None
    if not proto.graph.node or not proto.opset_import:
        raise ValueError(f"fastnn.onnx.load: {what} is not an ONNX model (no graph nodes or no "
                         "opset)")
    return proto


def _opset(proto):
    onnx = _onnx()
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    if OPSETS[0] <= opset <= OPSETS[1]:
        return proto, opset
    try:
        from onnx import version_converter
        proto = version_converter.convert_version(proto, 17)
    except Exception as e:
        raise ValueError(f"fastnn.onnx.load: opset {opset} is outside {OPSETS[0]}..{OPSETS[1]} "
                         f"and onnx.version_converter could not convert it ({e})") from None
    del onnx
    return proto, 17


def load(model):
    onnx = _onnx()
    from onnx import helper, numpy_helper
    proto, opset = _opset(_proto(model))
    g = proto.graph
    ctx = _Ctx(opset)
    for t in g.initializer:
        ctx.consts[t.name] = numpy_helper.to_array(t)
    inputs, index_inputs = [], set()
    for vi in g.input:
        if vi.name in ctx.consts:
            continue
        dims = vi.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if vi.type.tensor_type.elem_type not in (1, 6, 7):  # float32, int32, int64
            raise ValueError(f"fastnn.onnx.load: input {vi.name!r}: element type "
                             f"{helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)}; "
                             "fastnn models take float32 inputs (integer ones as the indices of "
                             "an Embedding)")
        if vi.type.tensor_type.elem_type != 1:
            index_inputs.add(vi.name)
        if len(shape) < 1 or any(d is None for d in shape[1:]):
            raise ValueError(f"fastnn.onnx.load: input {vi.name!r}: every dimension but the batch "
                             f"must be known, got {shape}")
        t = nn.Input(tuple(shape[1:]), name=vi.name)
        inputs.append(t)
        ctx.syms[vi.name] = t
    nodes = list(g.node)
    for n in nodes:  # Constant nodes first: the rewrites below look at scalar operands
        if n.op_type == "Constant":
            try:
                attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
                if "value" in attrs:
                    attrs["value"] = numpy_helper.to_array(attrs["value"])
                ctx.consts[n.output[0]] = FOLD["Constant"](n, [], attrs, opset)
            except Unsupported:
                pass
    nodes = fuse_gelu(nodes, ctx.consts, {vi.name for vi in g.output})
    nodes = fuse_softsign(nodes, ctx.consts, {vi.name for vi in g.output})
    nodes = fuse_layernorm(nodes, ctx.consts, {vi.name for vi in g.output})
    missing = [(n.op_type, n.name or f"#{i}") for i, n in enumerate(nodes)
               if n.domain not in ("", "ai.onnx") or n.op_type not in SUPPORTED_OPS]
    if missing:
        ops = sorted({m[0] for m in missing})
        raise ValueError("fastnn.onnx.load: unsupported operator(s) " + ", ".join(ops) +
                         "; nodes: " + ", ".join(f"{n} ({op})" for op, n in missing))
    ctx.used = {n for node in nodes for n in node.input} | {vi.name for vi in g.output}
    for i, n in enumerate(nodes):  # integer inputs: indices of a Gather on a table only
        bad = [x for x in n.input if x in index_inputs]
        if bad and (n.op_type != "Gather" or list(n.input[1:]) != bad):
            raise ValueError(f"fastnn.onnx.load: integer input(s) {bad} feed node "
                             f"{n.name or f'#{i}'} ({n.op_type}); fastnn takes integer inputs "
                             "only as the indices of a Gather on a constant table (an Embedding)")
    problems, poisoned = [], set()
    for i, node in enumerate(nodes):
        name = node.name or f"#{i}"
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if "value" in attrs and node.op_type in ("Constant", "ConstantOfShape"):
            attrs["value"] = numpy_helper.to_array(attrs["value"])
        ins = [n for n in node.input if n]
        if any(n in poisoned for n in ins):
            poisoned.update(node.output)
            continue
        try:
            if node.op_type == "Shape" and ins[0] in ctx.syms:
                out = FOLD["Shape"](node, [list(ctx.syms[ins[0]].shape)], attrs, opset)
                ctx.consts[node.output[0]] = out
                continue
            if node.op_type in FOLD and all(n in ctx.consts for n in ins) and (
                    node.op_type not in ("Dropout",)):
                args = [ctx.consts[n] if n else None for n in node.input]
                ctx.consts[node.output[0]] = FOLD[node.op_type](node, args, attrs, opset)
                continue
            if node.op_type not in CONVERTERS:
                raise Unsupported(f"{node.op_type} on a graph tensor (only constants fold)")
            out = CONVERTERS[node.op_type](ctx, node, attrs)
            outs = out if isinstance(out, tuple) else (out,)
            for n, t in zip(node.output, outs):
                if n:
                    ctx.syms[n] = t
        except Unsupported as e:
            problems.append(f"{name} ({node.op_type}): {e}")
            poisoned.update(node.output)
        except (ValueError, TypeError) as e:
            problems.append(f"{name} ({node.op_type}): {e}")
            poisoned.update(node.output)
    if problems:
        raise ValueError("fastnn.onnx.load: cannot convert " + "; ".join(problems))
    outputs = []
    for vi in g.output:
        if vi.name not in ctx.syms:
            raise ValueError(f"fastnn.onnx.load: output {vi.name!r} is a constant, not computed "
                             "from the inputs")
        outputs.append(ctx.syms[vi.name])
    del onnx
    return nn.Model(inputs if len(inputs) > 1 else inputs[0],
                    outputs if len(outputs) > 1 else outputs[0], name=g.name or None)
