"""ONNX converters for LayerNormalization (and PyTorch's decomposed form, fused first by
``_patterns.fuse_layernorm``), Gather on a constant table (Embedding) and the reductions:
ReduceMean / ReduceSum / ReduceMax / ReduceMin / ReduceProd / ReduceSumSquare / ReduceL1 /
ReduceL2 / ReduceLogSumExp (Mean / Sum / Amax / Amin / Prod / SumSquare / Norm(1) / Norm(2) /
LogSumExp)."""
import numpy as np

from fastnn import nn
from fastnn.onnx._fold import Unsupported


def _layer_norm(ctx, node, attrs):
    x = ctx.sym(node.input[0])
    if any(o in ctx.used for o in node.output[1:] if o):
        raise Unsupported("LayerNormalization's Mean / InvStdDev outputs")
    axis = int(attrs.get("axis", -1))
    if not -x.ndim <= axis < x.ndim:
        raise Unsupported(f"LayerNormalization axis {axis} of a {x.ndim}-D input")
    axis %= x.ndim
    if "reduced_axes" in attrs:  # the fused decomposition: the axes must be the trailing ones
        got = sorted(int(a) % x.ndim for a in attrs["reduced_axes"])
        if got != list(range(axis, x.ndim)):
            raise Unsupported(f"a mean / variance normalisation over axes {got} of a {x.ndim}-D "
                              "input (LayerNorm normalises trailing axes)")
    if axis == 0:
        raise Unsupported("LayerNormalization over the batch axis (axis 0)")
    shape = tuple(x.shape[axis:])

    def param(i, what):
        if len(node.input) <= i or not node.input[i]:
            return None
        v = np.asarray(ctx.const(node.input[i], what), np.float32)
        try:
            return np.broadcast_to(v, shape)
        except ValueError:
            raise Unsupported(f"LayerNormalization {what} of shape {v.shape} for normalized "
                              f"shape {shape}") from None

    scale, bias = param(1, "Scale"), param(2, "B")
    layer = nn.LayerNorm(shape, eps=float(attrs.get("epsilon", 1e-5)),
                         elementwise_affine=scale is not None, bias=bias is not None)
    if scale is not None:
        layer.weight.data[...] = scale
        if bias is not None:
            layer.bias.data[...] = bias
    elif bias is not None:
        return nn.AddConstant(np.ascontiguousarray(bias))(layer(x))
    return layer(x)


def _gather(ctx, node, attrs):
    """Gather(constant 2-D table, integer graph tensor, axis=0) -> Embedding."""
    if node.input[0] not in ctx.consts or node.input[1] not in ctx.syms:
        raise Unsupported("Gather other than a constant table indexed by a graph tensor")
    table = np.asarray(ctx.consts[node.input[0]])
    if table.ndim != 2 or int(attrs.get("axis", 0)) != 0 or table.dtype.kind != "f":
        raise Unsupported(f"Gather on a {table.ndim}-D {table.dtype} table along axis "
                          f"{attrs.get('axis', 0)} (an Embedding is a 2-D float table, axis 0)")
    layer = nn.Embedding(table.shape[0], table.shape[1])
    layer.weight.data[...] = table
    return layer(ctx.syms[node.input[1]])


def _reduce(make, input_axes_from):
    def conv(ctx, node, attrs):
        x = ctx.sym(node.input[0])
        if ctx.opset >= input_axes_from:
            axes = (None if len(node.input) < 2 or not node.input[1]
                    else [int(a) for a in np.ravel(ctx.const(node.input[1], "axes"))])
        else:
            axes = [int(a) for a in attrs["axes"]] if "axes" in attrs else None
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            raise Unsupported(f"{node.op_type} over all axes (the batch axis too)")
        if any(not -x.ndim <= a < x.ndim for a in axes):
            raise Unsupported(f"{node.op_type} axes {axes} of a {x.ndim}-D input")
        if any(a % x.ndim == 0 for a in axes):
            raise Unsupported(f"{node.op_type} over the batch axis (axes {axes})")
        return make(tuple(a % x.ndim for a in axes), keepdim=keep)(x)
    return conv


CONVERTERS = {
    "LayerNormalization": _layer_norm, "Gather": _gather,
    "ReduceMean": _reduce(nn.Mean, 18), "ReduceSum": _reduce(nn.Sum, 13),
    "ReduceMax": _reduce(nn.Amax, 18), "ReduceMin": _reduce(nn.Amin, 18),
    "ReduceProd": _reduce(nn.Prod, 18), "ReduceSumSquare": _reduce(nn.SumSquare, 18),
    "ReduceL1": _reduce(lambda dim, keepdim: nn.Norm(1, dim, keepdim), 18),
    "ReduceL2": _reduce(lambda dim, keepdim: nn.Norm(2, dim, keepdim), 18),
    "ReduceLogSumExp": _reduce(nn.LogSumExp, 18),
}
