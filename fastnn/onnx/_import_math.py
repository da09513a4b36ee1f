"""ONNX element-wise math on graph tensors (Exp, Log, Sqrt, Pow, Max, Min), Tile,
InstanceNormalization and 3-D BatchNormalization -> the fastnn layers of the same names (the
converters of ``_import.CONVERTERS``; constant operands still fold in ``_fold``)."""
import numpy as np

from fastnn import nn
from fastnn.onnx._fold import Unsupported


def _unary(cls):
    return lambda ctx, node, attrs: cls()(ctx.sym(node.input[0]))


def _binary(cls):
    def convert(ctx, node, attrs):
        names = [n for n in node.input if n]
        xs = [ctx.sym(n, f"{node.op_type} operand") for n in names]
        if node.op_type == "Pow" and len(xs) != 2:
            raise Unsupported(f"Pow of {len(xs)} inputs")
        y = xs[0]
        for x in xs[1:]:  # Max/Min take one or more inputs
            y = cls()(y, x)
        return y
    return convert


def _tile(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    reps = [int(r) for r in np.asarray(ctx.const(node.input[1], "repeats")).reshape(-1)]
    if len(reps) != x.ndim:
        raise Unsupported(f"Tile with {len(reps)} repeats on a {x.ndim}-D input")
    if reps[0] != 1:
        raise Unsupported(f"Tile along the batch axis (repeats {reps})")
    if len(reps) == 1:
        return x
    return nn.Tile(reps[1:])(x)


def _instance_norm(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    scale, bias = (np.asarray(ctx.const(n, "InstanceNormalization scale/B"), np.float32)
                   for n in node.input[1:3])
    layers = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}
    if x.ndim not in layers:
        raise Unsupported(f"InstanceNormalization on a {x.ndim}-D input (3-D to 5-D)")
    layer = layers[x.ndim](scale.shape[0], eps=float(attrs.get("epsilon", 1e-5)), affine=True)
    layer.weight.data[...] = scale
    layer.bias.data[...] = bias
    return layer(x)


CONVERTERS = {
    "Exp": _unary(nn.Exp), "Log": _unary(nn.Log), "Sqrt": _unary(nn.Sqrt),
    "Pow": _binary(nn.Pow), "Max": _binary(nn.Maximum), "Min": _binary(nn.Minimum),
    "Tile": _tile, "InstanceNormalization": _instance_norm,
}
