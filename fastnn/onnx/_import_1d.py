"""ONNX -> fastnn for the 1-D forms (Conv with a 3-D weight, MaxPool / AveragePool / Pad on an
(N, C, L) tensor) and GlobalMaxPool: called from the converters in ``_import.py``."""
import numpy as np

from fastnn import nn
from fastnn.onnx._fold import Unsupported


def _one(v, what):
    v = [int(a) for a in v]
    if len(v) != 1:
        raise Unsupported(f"{what} {v}: expected one value for a 1-D operator")
    return v[0]


def _pads2(attrs, length, k, s, d, what):
    """ONNX pads of a 1-D operator as (begin, end), auto_pad resolved."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        o = -(-length // s)
        total = max(0, (o - 1) * s + (k - 1) * d + 1 - length)
        small, big = total // 2, total - total // 2
        return (small, big) if auto == "SAME_UPPER" else (big, small)
    p = [int(a) for a in attrs.get("pads", [0, 0])] if auto in ("NOTSET", "") else [0, 0]
    if len(p) != 2:
        raise Unsupported(f"{what}: pads {p} (expected 2 values for a 1-D operator)")
    return p[0], p[1]


def _window(attrs, k, length, what):
    s = _one(attrs.get("strides", [1]), "strides")
    d = _one(attrs.get("dilations", [1]), "dilations")
    return s, d, _pads2(attrs, length, k, s, d, what)


def _padded(x, pads, fill=0.0):
    """(the layer's symmetric padding, its input): an asymmetric excess becomes a ConstantPad1d."""
    p = min(pads)
    if pads[0] != pads[1]:
        x = nn.ConstantPad1d((pads[0] - p, pads[1] - p), fill)(x)
    return p, x


def conv1d(x, w, b, attrs):
    k = int(w.shape[2])
    s, d, pads = _window(attrs, k, x.shape[2], "Conv")
    p, x = _padded(x, pads)
    g = int(attrs.get("group", 1))
    layer = nn.Conv1d(w.shape[1] * g, w.shape[0], k, s, p, d, g, bias=b is not None)
    layer.weight.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    return layer(x)


def pool1d(kind, x, node, attrs):
    if x.ndim != 3:
        raise Unsupported(f"{node.op_type} on a {x.ndim}-D input")
    k = _one(attrs["kernel_shape"], "kernel_shape")
    s, d, pads = _window(attrs, k, x.shape[2], node.op_type)
    ceil = bool(attrs.get("ceil_mode", 0))
    asym = pads[0] != pads[1]
    if kind == "max":  # an asymmetric excess is padded with -inf (never the maximum)
        if asym and ceil:
            raise Unsupported(f"MaxPool with asymmetric pads {pads} and ceil_mode=1")
        p, x = _padded(x, pads, -np.inf)
        return nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)(x)
    if d != 1:
        raise Unsupported("dilated AveragePool")
    count_pad = bool(attrs.get("count_include_pad", 0))  # ONNX's default 0, PyTorch's True
    if asym and (not count_pad or ceil):
        raise Unsupported(f"AveragePool with asymmetric pads {pads} and count_include_pad=0 or "
                          "ceil_mode=1")
    p, x = _padded(x, pads)
    return nn.AvgPool1d(k, s, p, ceil_mode=ceil, count_include_pad=count_pad)(x)


def pad1d(x, pads, mode, value):
    """ONNX Pad of an (N, C, L) tensor, pads [b0, b1, b2, e0, e1, e2]: along L only."""
    if len(pads) != 6 or any(pads[i] for i in (0, 1, 3, 4)):
        raise Unsupported(f"Pad of a 3-D tensor with pads {pads} (padding of L in (N, C, L) "
                          "only)")
    if min(pads) < 0:
        raise Unsupported(f"Pad with negative pads {pads} (cropping)")
    lr = (pads[2], pads[5])
    if mode == "constant":
        return nn.ConstantPad1d(lr, value)(x)
    return {"reflect": nn.ReflectionPad1d, "edge": nn.ReplicationPad1d,
            "wrap": nn.CircularPad1d}[mode](lr)(x)


def global_pool(kind):
    """GlobalMaxPool (4-D: GlobalMaxPool2d; 3-D: AdaptiveMaxPool1d(1)); GlobalAveragePool on a
    3-D tensor (AdaptiveAvgPool1d(1)); the 4-D GlobalAveragePool is _import's."""
    def convert(ctx, node, attrs):
        x = ctx.sym(node.input[0])
        if x.ndim == 3:
            return (nn.AdaptiveMaxPool1d if kind == "max" else nn.AdaptiveAvgPool1d)(1)(x)
        if x.ndim != 4:
            raise Unsupported(f"{node.op_type} on a {x.ndim}-D input ((N, C, L) or (N, C, H, W))")
        return nn.GlobalMaxPool2d(keepdim=True)(x)
    return convert
