"""The one model representation: a node list in topological order, and its executor.

Every container -- ``nn.Model``, ``Sequential``, ``Residual`` -- is a ``Graph``: value slots
``0 .. n_in-1`` are its inputs, then each node's outputs in order; a node is ``(layer, input
slots, output slots)`` and has a name (the layer's registered name; for a Residual's join, "").
``forward`` runs the nodes in order and keeps one ``Record`` per node (so a layer used twice
keeps both calls apart); ``backward`` runs them in reverse, summing gradients where a value fans
out, and frees each record as its backward runs. Subsystems read a container through its
``_graph`` (None for a leaf layer) -- see ``nn.graph.expand`` for the leaf view of any model.
"""
import threading

import numpy as np

from fastnn import _C

from fastnn.nn import _calls

__all__ = ["Graph", "chain", "forward", "backward", "run_forward", "run_backward"]


class Graph:
    """nodes [(layer, in_slots, out_slots)], names [str], n_in, outs (slots returned),
    n_values; uses[s] (readers of slot s, outputs counted) and fused_with[i] (node i absorbs
    node i+1) are derived by ``finish``. ``in_shapes``/``out_shapes``: per-value shapes with None
    for the batch (a Model's), or None (a Sequential takes any shape its layers take)."""

    __slots__ = ("nodes", "names", "n_in", "ins", "outs", "n_values", "uses", "fused_with",
                 "in_shapes", "out_shapes", "key")

    def __init__(self, nodes, names, n_in, outs, in_shapes=None, out_shapes=None):
        self.nodes, self.names, self.n_in = list(nodes), list(names), n_in
        self.ins = tuple(range(n_in))
        self.outs = tuple(outs)
        self.n_values = n_in + sum(len(o) for _, _, o in self.nodes)
        self.in_shapes, self.out_shapes = in_shapes, out_shapes
        self.key = None
        self.finish()

    def finish(self):
        uses = [0] * self.n_values
        for _, in_slots, _ in self.nodes:
            for s in in_slots:
                uses[s] += 1
        for s in self.outs:
            uses[s] += 1
        self.uses = uses
        self.fused_with = _fusion(self.nodes, uses)

    def consumers(self, slot):
        """Indices of the nodes that read ``slot``, and whether it is an output."""
        return [i for i, (_, ins, _) in enumerate(self.nodes) if slot in ins], slot in self.outs


def chain(names, layers):
    """A chain: layer i reads slot i and writes slot i + 1 (a Sequential)."""
    nodes = [(layer, (i,), (i + 1,)) for i, layer in enumerate(layers)]
    return Graph(nodes, names, 1, (len(nodes),))


def _fuses(layer):
    from fastnn.nn.module import Module
    return type(layer).forward_fused is not Module.forward_fused


def _fusion(nodes, uses):
    """Fusion on single-consumer edges: node i absorbs node i+1 when i+1 is i's only consumer and
    takes only i's (single) output (a Linear or a batch norm absorbing its activation, an Add its
    ReLU); ``layer.forward_fused(*inputs, next_layer)`` decides at run time (None: not fused)."""
    fused = [False] * len(nodes)
    for i in range(len(nodes) - 1):
        layer, _, out_slots = nodes[i]
        nxt, nxt_in, _ = nodes[i + 1]
        if (len(out_slots) == 1 and nxt_in == out_slots and uses[out_slots[0]] == 1
                and _fuses(layer) and not (i > 0 and fused[i - 1])):
            fused[i] = True
    return fused


def _release(vals, left, slots):
    for s in slots:
        left[s] -= 1
        if left[s] == 0:
            vals[s] = None


def forward(g, xs, where):
    """Run graph ``g`` on the input arrays ``xs``; returns (outputs tuple, records or None).
    Records are kept in grad mode only; in inference each value is dropped after its last
    reader."""
    vals = [None] * g.n_values
    vals[:g.n_in] = xs
    nodes, fused_with = g.nodes, g.fused_with
    i, n = 0, len(nodes)
    if not _calls._tls.grad:
        left = list(g.uses)
        while i < n:
            layer, in_slots, out_slots = nodes[i]
            if fused_with[i]:
                nxt = nodes[i + 1]
                y = layer.forward_fused(*[vals[s] for s in in_slots], nxt[0])
                if y is not None:  # (node i's own output has no other reader: not kept)
                    vals[nxt[2][0]] = y
                    _release(vals, left, in_slots)
                    i += 2
                    continue
            if len(in_slots) == 1:
                s = in_slots[0]
                out = layer.forward(vals[s])
                left[s] -= 1
                if not left[s]:  # its last reader: dropped (memory), as a loop rebinding x
                    vals[s] = None
            else:
                out = layer.forward(*[vals[s] for s in in_slots])
                _release(vals, left, in_slots)
            _store(vals, out, out_slots, layer, where)
            i += 1
        return tuple([vals[s] for s in g.outs]), None
    st = _calls._tls.stack
    Record, pending = _calls.Record, _calls._set_pending
    tid = threading.get_ident()
    records = [None] * n
    while i < n:
        layer, in_slots, out_slots = nodes[i]
        if fused_with[i]:
            nxt = nodes[i + 1][0]
            ra, rb = Record(layer), Record(nxt)
            st.append(ra)
            st.append(rb)
            try:
                y = layer.forward_fused(*[vals[s] for s in in_slots], nxt)
            finally:
                del st[-2:]
            if y is not None:
                records[i], records[i + 1] = ra, rb
                pending(layer, ra, tid)
                pending(nxt, rb, tid)
                vals[out_slots[0]] = vals[nodes[i + 1][2][0]] = y
                i += 2
                continue
        rec = Record(layer)
        args = [vals[s] for s in in_slots]
        tape = layer._tape  # define-by-run: its forward sees traced arrays (nn/_calls.py)
        if tape:
            args = [_calls._traced(a) for a in args]
        st.append(rec)
        try:
            out = layer.forward(*args)
        finally:
            st.pop()
        if tape:
            rec.args, rec.out = tuple(args), out
            out = _calls._plain(out)
        records[i] = rec
        pending(layer, rec, tid)
        _store(vals, out, out_slots, layer, where)
        i += 1
    return tuple([vals[s] for s in g.outs]), records


def _store(vals, out, out_slots, layer, where):
    if len(out_slots) == 1 and not isinstance(out, tuple):
        vals[out_slots[0]] = out
        return
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != len(out_slots):
        raise ValueError(f"{where}: {type(layer).__name__} returned {len(outs)} outputs, the "
                         f"graph was built with {len(out_slots)}")
    for s, o in zip(out_slots, outs):
        vals[s] = o


def _sum(a, b):
    """a + b of two gradients of one value (a fan-out): fastnn's threaded sum for float32 arrays
    of one shape (the usual case), numpy otherwise. Never in place: a layer may return one array
    for several inputs (Add's backward does)."""
    if (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == np.float32
            and b.dtype == np.float32 and a.shape == b.shape):
        return _C.add(a, b)
    return a + b


def _trainable(layer):
    return any(p.requires_grad for p in layer.parameters())


def _needed(g):
    """Per value slot, whether its gradient is needed, when the graph's own input gradients are
    not (``backward(..., input_grad=False)``): a value needs one if a layer on its way back from
    it has trainable parameters. None: every gradient is needed (the default)."""
    if not _calls.input_grad_skipped():
        return None
    need = [True] * g.n_values
    for s in g.ins:
        need[s] = False
    for layer, in_slots, out_slots in g.nodes:  # in order: producers before consumers
        n = any(need[s] for s in in_slots) or _trainable(layer)
        for s in out_slots:
            need[s] = n
    return need


def backward(g, records, grads, where):
    """Back-propagate ``grads`` (one per output, None for none) through the records of one
    ``forward``; returns the input gradients (a tuple, None where nothing flowed). Under
    ``input_grad=False`` a layer whose output needs no gradient (nothing trainable before it) is
    not back-propagated at all, and one whose inputs need none skips its input gradients."""
    need = _needed(g)
    acc = [None] * g.n_values
    for s, v in zip(g.outs, grads):
        if v is not None:
            acc[s] = v if acc[s] is None else _sum(acc[s], v)
    run = _calls.run_recorded
    nodes = g.nodes
    for i in range(len(nodes) - 1, -1, -1):
        layer, in_slots, out_slots = nodes[i]
        rec = records[i]
        if need is not None and not any(need[s] for s in out_slots):
            for s in out_slots:
                acc[s] = None
            rec.free()
            continue
        ig = need is None or any(need[s] for s in in_slots)
        if len(out_slots) == 1:
            gout = acc[out_slots[0]]
            if gout is None:
                rec.free()
                continue
            acc[out_slots[0]] = None
            gin = run(rec, (gout,), ig)
        else:
            gs = [acc[s] for s in out_slots]
            if all(v is None for v in gs):
                rec.free()
                continue
            for s in out_slots:
                acc[s] = None
            gin = run(rec, gs, ig)
        if len(in_slots) == 1 and not isinstance(gin, tuple):
            s = in_slots[0]
            if gin is not None:
                acc[s] = gin if acc[s] is None else _sum(acc[s], gin)
            continue
        gin = gin if isinstance(gin, tuple) else (gin,)
        if len(gin) != len(in_slots):
            raise ValueError(f"{where}: {type(layer).__name__}.backward returned {len(gin)} "
                             f"gradients for {len(in_slots)} inputs")
        for s, v in zip(in_slots, gin):
            if v is not None:
                acc[s] = v if acc[s] is None else _sum(acc[s], v)
    return tuple(acc[s] for s in g.ins)


def run_forward(container, xs, where):
    """A container's forward: its graph run on ``xs``; in grad mode the graph and the records
    are the call's saved state (``_node_records``), so the backward follows this forward's graph
    even if the container's layers change in between."""
    if not _calls._tls.grad:  # inference: the compiled plan (nn/_plan.py) when it covers the model
        from fastnn.nn import _plan
        out = _plan.run(container, xs)
        if out is not None:
            return out
    g = container._graph
    out, records = forward(g, xs, where)
    if records is not None:
        container._node_records = (g, records)
    return out


def run_backward(container, grads, where):
    saved = container._node_records
    if saved is None:
        raise ValueError(f"{where}: backward() called before forward()")
    g, records = saved
    res = backward(g, records, grads, where)
    container._node_records = None
    return res
