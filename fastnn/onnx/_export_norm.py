"""ONNX export of LayerNorm (LayerNormalization from opset 17; before it PyTorch's decomposition
ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add), Embedding (Gather on the
table; the model's input is then int64) and the reductions Mean / Sum / Amax / Amin / Prod /
SumSquare / Norm(p=1, 2) / LogSumExp (ReduceMean / ReduceSum / ReduceMax / ReduceMin / ReduceProd /
ReduceSumSquare / ReduceL1, L2 / ReduceLogSumExp, axes as an attribute before opset 18 -- 13 for
ReduceSum -- and as an input from then)."""
import numpy as np

from fastnn import nn

_REDUCE = {nn.Mean: "ReduceMean", nn.Sum: "ReduceSum", nn.Amax: "ReduceMax", nn.Amin: "ReduceMin",
           nn.Prod: "ReduceProd", nn.SumSquare: "ReduceSumSquare", nn.LogSumExp: "ReduceLogSumExp"}


def _reduce(w, op, x, axes, keepdims, where, axes_input_from):
    if w.opset >= axes_input_from:
        return w.node(op, [x, w.init(f"{where}.axes", axes, np.int64)], where,
                      keepdims=int(keepdims))
    return w.node(op, [x], where, axes=list(axes), keepdims=int(keepdims))


def _layer_norm(w, layer, x, ndim, where):
    k = len(layer.normalized_shape)
    shape = layer.normalized_shape
    scale = (layer.weight.data if layer.weight is not None else np.ones(shape, np.float32))
    if w.opset >= 17:
        args = [x, w.init(f"{where}.weight", scale)]
        if layer.bias is not None:
            args.append(w.init(f"{where}.bias", layer.bias.data))
        return w.node("LayerNormalization", args, where, axis=-k, epsilon=layer.eps)
    axes = list(range(ndim - k, ndim))
    (m,) = _reduce(w, "ReduceMean", x, axes, True, where + "_mean", 18)
    (d,) = w.node("Sub", [x, m], where + "_sub")
    (p,) = w.node("Pow", [d, w.init(f"{where}.two", np.float32(2.0))], where + "_pow")
    (v,) = _reduce(w, "ReduceMean", p, axes, True, where + "_var", 18)
    (a,) = w.node("Add", [v, w.init(f"{where}.eps", np.float32(layer.eps))], where + "_add")
    (s,) = w.node("Sqrt", [a], where + "_sqrt")
    out = w.node("Div", [d, s], where + "_div")
    if layer.weight is not None:
        out = w.node("Mul", [out[0], w.init(f"{where}.weight", scale)], where + "_mul")
        if layer.bias is not None:
            out = w.node("Add", [out[0], w.init(f"{where}.bias", layer.bias.data)],
                         where + "_bias")
    return out


def write_norm(w, layer, ins, vals, where):
    """The node(s) of a LayerNorm / Embedding / reduction layer, or None for another layer."""
    t = type(layer)
    if t is nn.LayerNorm:
        return _layer_norm(w, layer, ins[0], vals[0].ndim, where)
    if t is nn.Embedding:
        return w.node("Gather", [w.init(f"{where}.weight", layer.weight.data), ins[0]], where,
                      axis=0)
    if t in _REDUCE or t is nn.Norm:
        op = _REDUCE[t] if t in _REDUCE else f"ReduceL{layer.p}"
        since = 13 if t is nn.Sum else 18
        ndim = vals[0].ndim
        axes = sorted(d % ndim for d in layer.dim)
        return _reduce(w, op, ins[0], axes, layer.keepdim, where, since)
    return None


def index_inputs(model, n_inputs):
    """For each input of ``model``: whether it takes integer indices (an Embedding reads it)."""
    from fastnn.nn.embedding import takes_indices
    if isinstance(model, nn.Model):
        g = model._graph
        return [any(k in slots and takes_indices(layer) for layer, slots, _ in g.nodes)
                for k in range(n_inputs)]
    return [takes_indices(model)] + [False] * (n_inputs - 1)
