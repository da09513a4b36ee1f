"""Graph rewrites before conversion: GELU written out with Erf (PyTorch's export below opset 20,
and fastnn's own) becomes one Gelu node; Softsign written out as x / (|x| + 1) (PyTorch's export)
one Softsign node."""
import numpy as np


def _scalar(consts, name, want):
    v = consts.get(name)
    return v is not None and np.size(v) == 1 and abs(float(np.ravel(v)[0]) - want) < 1e-4


def _graph_maps(nodes):
    producer, consumers = {}, {}
    for n in nodes:
        for o in n.output:
            producer[o] = n
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return producer, consumers


def fuse_softsign(nodes, consts, graph_outputs):
    """``x / (|x| + 1)`` (either order of the Add's operands) -> Softsign(x)."""
    from onnx import helper
    _, consumers = _graph_maps(nodes)
    drop, replace = set(), {}
    for ab in nodes:
        if ab.op_type != "Abs" or ab.output[0] in graph_outputs:
            continue
        x, c = ab.input[0], consumers.get(ab.output[0], [])
        if len(c) != 1 or c[0].op_type != "Add":
            continue
        add = c[0]
        rest = [i for i in add.input if i != ab.output[0]]
        if len(rest) != 1 or not _scalar(consts, rest[0], 1.0) or add.output[0] in graph_outputs:
            continue
        c = consumers.get(add.output[0], [])
        if len(c) != 1 or c[0].op_type != "Div" or list(c[0].input) != [x, add.output[0]]:
            continue
        div = c[0]
        soft = helper.make_node("Softsign", [x], [div.output[0]],
                                name=(div.name or "softsign") + "_softsign")
        drop.update((id(ab), id(add)))
        replace[id(div)] = soft
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop]


def fuse_gelu(nodes, consts, graph_outputs):
    """``x * 0.5 * (1 + erf(x / sqrt(2)))`` (either order of the two Muls) -> Gelu(x)."""
    from onnx import helper
    producer, consumers = _graph_maps(nodes)

    def only(name, op):
        c = consumers.get(name, [])
        if len(c) == 1 and c[0].op_type == op and name not in graph_outputs:
            return c[0]
        return None

    def other(node, name):
        rest = [i for i in node.input if i != name]
        return rest[0] if len(rest) == 1 else None

    drop, replace = set(), {}
    for erf in nodes:
        if erf.op_type != "Erf":
            continue
        div = producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or not _scalar(consts, div.input[1], np.sqrt(2)):
            continue
        x = div.input[0]
        add = only(erf.output[0], "Add")
        if add is None or not _scalar(consts, other(add, erf.output[0]), 1.0):
            continue
        mul1 = only(add.output[0], "Mul")
        if mul1 is None or div.output[0] in graph_outputs or len(consumers[div.output[0]]) != 1:
            continue
        if other(mul1, add.output[0]) != x:
            continue
        mul2 = only(mul1.output[0], "Mul")
        if mul2 is None or not _scalar(consts, other(mul2, mul1.output[0]), 0.5):
            continue
        gelu = helper.make_node("Gelu", [x], [mul2.output[0]], name=(erf.name or "gelu") + "_gelu")
        drop.update(id(n) for n in (div, erf, add, mul1))
        replace[id(mul2)] = gelu
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop]


def _axes_of(node, consts):
    """A Reduce node's axes (attribute, or the constant second input from opset 18) or None."""
    from onnx import helper
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]], attrs
    if len(node.input) > 1 and node.input[1] in consts:
        return [int(a) for a in np.ravel(consts[node.input[1]])], attrs
    return None, attrs


def fuse_layernorm(nodes, consts, graph_outputs):
    """PyTorch's LayerNorm below opset 17: m = ReduceMean(x), d = x - m, v = ReduceMean(d ^ 2),
    y = d / sqrt(v + eps) [* weight] [+ bias] over the same trailing axes -> one
    LayerNormalization node (its ``reduced_axes`` attribute keeps the axes for the converter to
    check; a missing weight is an empty Scale input)."""
    from onnx import helper
    producer, consumers = _graph_maps(nodes)

    def only(name, op):
        c = consumers.get(name, [])
        return c[0] if len(c) == 1 and c[0].op_type == op and name not in graph_outputs else None

    def const_other(node, name):
        rest = [i for i in node.input if i != name]
        return rest[0] if len(rest) == 1 and rest[0] in consts else None

    drop, replace = set(), {}
    for m in nodes:
        if m.op_type != "ReduceMean":
            continue
        axes, attrs = _axes_of(m, consts)
        if not axes or attrs.get("keepdims", 1) != 1 or m.output[0] in graph_outputs:
            continue
        x = m.input[0]
        subs = consumers.get(m.output[0], [])
        if len(subs) != 1 or subs[0].op_type != "Sub" or list(subs[0].input) != [x, m.output[0]]:
            continue
        sub = subs[0]
        d = sub.output[0]
        dc = consumers.get(d, [])
        if len(dc) != 2 or d in graph_outputs:
            continue
        pw = next((n for n in dc if n.op_type == "Pow" and list(n.input)[0] == d), None)
        div = next((n for n in dc if n.op_type == "Div" and list(n.input)[0] == d), None)
        if pw is None or div is None or not _scalar(consts, pw.input[1], 2.0):
            continue
        m2 = only(pw.output[0], "ReduceMean")
        if m2 is None or _axes_of(m2, consts)[0] != axes or \
                _axes_of(m2, consts)[1].get("keepdims", 1) != 1:
            continue
        add = only(m2.output[0], "Add")
        eps = const_other(add, m2.output[0]) if add is not None else None
        if eps is None or np.size(consts[eps]) != 1:
            continue
        sq = only(add.output[0], "Sqrt")
        if sq is None or producer.get(div.input[1]) is not sq:
            continue
        chain, out, scale, bias = [m, sub, pw, m2, add, sq], div, "", ""
        mul = only(div.output[0], "Mul")
        if mul is not None and const_other(mul, div.output[0]):
            chain.append(out)
            out, scale = mul, const_other(mul, div.output[0])
        if scale:
            badd = only(out.output[0], "Add")
            if badd is not None and const_other(badd, out.output[0]):
                chain.append(out)
                out, bias = badd, const_other(badd, out.output[0])
        ln = helper.make_node("LayerNormalization", [x, scale, bias], [out.output[0]],
                              name=(m.name or "layernorm") + "_layernorm", axis=min(axes),
                              epsilon=float(np.ravel(consts[eps])[0]), reduced_axes=axes)
        drop.update(id(n) for n in chain)
        replace[id(out)] = ln
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop]
