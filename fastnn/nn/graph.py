"""Graph models (Keras' functional API with PyTorch names): ``nn.Input``, symbolic tensors, and
``nn.Model`` -- a node list in topological order, a forward that keeps one record per node
(so a layer used twice keeps both calls apart) and a backward that runs the nodes in reverse,
summing the gradients where a tensor fans out.

Calling a layer on a ``SymbolicTensor`` records a node and infers its output shape by running
the layer once on a batch of one (in inference mode: nothing is kept, no statistics change), so a
mismatch raises then, with the layer's own message, not at the first batch.
"""
import numbers

import numpy as np

from fastnn.nn import _calls, _exec
from fastnn.nn.module import Module, _SymbolicBase, _short, module_from_config, register

__all__ = ["Input", "SymbolicTensor", "Model", "as_model", "expand"]


class _InputNode:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Node:
    __slots__ = ("layer", "inputs", "outputs")

    def __init__(self, layer, inputs):
        self.layer, self.inputs, self.outputs = layer, tuple(inputs), ()


class SymbolicTensor(_SymbolicBase):
    """A tensor of a graph being built: ``shape`` (None for the free batch dimension), the node
    that produces it. ``a + b`` and ``a * b`` add ``nn.Add`` / ``nn.Multiply`` nodes."""

    __slots__ = ("shape", "node", "index", "__weakref__")

    def __init__(self, shape, node, index=0):
        self.shape, self.node, self.index = tuple(shape), node, index

    @property
    def ndim(self):
        return len(self.shape)

    def __add__(self, other):
        from fastnn.nn.merge import Add
        return Add()(self, other)

    __radd__ = __add__

    def __mul__(self, other):
        from fastnn.nn.merge import Multiply
        return Multiply()(self, other)

    __rmul__ = __mul__

    def __repr__(self):
        src = (f"input {self.node.name!r}" if isinstance(self.node, _InputNode)
               else type(self.node.layer).__name__)
        return f"SymbolicTensor(shape={self.shape}, from {src})"


def Input(shape, name=None):
    """A model input: ``shape`` is one sample's shape (the batch dimension is free)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if (not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in shape)):
        raise ValueError(f"Input: shape: expected a tuple of positive ints (one sample's shape), "
                         f"got {shape!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"Input: name: expected a str or None, got {type(name).__name__}")
    return SymbolicTensor((None,) + tuple(int(d) for d in shape), _InputNode(name))


def _shape_str(t):
    return "(" + ", ".join("N" if d is None else str(d) for d in t.shape) + ")"


def symbolic_call(layer, args, kwargs):
    """``layer(*args)`` on symbolic tensors: a new node, its output shape(s) inferred."""
    if kwargs:
        raise TypeError(f"{type(layer).__name__}: a graph node takes tensors only, got keyword "
                        f"arguments {sorted(kwargs)}")
    for i, a in enumerate(args):
        if not isinstance(a, SymbolicTensor):
            raise TypeError(f"{type(layer).__name__}: argument {i}: expected a SymbolicTensor "
                            f"(graph inputs come from nn.Input or other layers), got "
                            f"{type(a).__name__}")
    dummies = [np.zeros((1,) + a.shape[1:], np.float32) for a in args]
    try:
        if hasattr(layer, "infer_shape"):  # a layer that states its shapes without running
            out = np.empty((0,) + tuple(layer.infer_shape(*[a.shape for a in args]))[1:],
                           np.float32)
        else:
            with _calls.inference_mode():
                out = layer.forward(*dummies)
    except (ValueError, TypeError) as e:
        shapes = ", ".join(_shape_str(a) for a in args)
        raise type(e)(f"{type(layer).__name__} on input shape(s) {shapes}: {e}") from None
    outs = out if isinstance(out, tuple) else (out,)
    node = _Node(layer, args)
    node.outputs = tuple(SymbolicTensor((None,) + tuple(np.shape(o)[1:]), node, i)
                         for i, o in enumerate(outs))
    return node.outputs if isinstance(out, tuple) else node.outputs[0]


def _as_tensors(value, what):
    many = isinstance(value, (list, tuple))
    items = list(value) if many else [value]
    if not items:
        raise ValueError(f"Model: {what}: expected at least one tensor")
    for i, t in enumerate(items):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model: {what}[{i}]: expected a SymbolicTensor, got "
                            f"{type(t).__name__}")
    return items, many


def _snake(name):
    return name.lower()


def _compile(inputs, outputs):
    """The Graph of the tensors between ``inputs`` and ``outputs`` (nodes in topological order),
    and the node objects in that order."""
    in_ids = {id(t): k for k, t in enumerate(inputs)}
    order, seen = [], set()
    stack = [(t, False) for t in reversed(outputs)]
    while stack:  # iterative depth-first post-order: deep graphs need no recursion
        t, expanded = stack.pop()
        if isinstance(t.node, _InputNode):
            if id(t) not in in_ids:
                raise ValueError(f"Model: an output depends on {t!r}, which is not one of the "
                                 "model's inputs; pass it in inputs=[...]")
            continue
        node = t.node
        if expanded:
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
            continue
        if id(node) in seen:
            continue
        stack.append((t, True))
        stack.extend((a, False) for a in reversed(node.inputs))
    slot = {id(t): k for k, t in enumerate(inputs)}
    n = len(inputs)
    nodes = []
    for node in order:
        in_slots = tuple(slot[id(a)] for a in node.inputs)
        out_slots = tuple(range(n, n + len(node.outputs)))
        for t, s in zip(node.outputs, out_slots):
            slot[id(t)] = s
        n += len(node.outputs)
        nodes.append((node.layer, in_slots, out_slots))
    g = _exec.Graph(nodes, [None] * len(nodes), len(inputs), [slot[id(t)] for t in outputs],
                    [t.shape for t in inputs], [t.shape for t in outputs])
    return g, order


@register
class Model(Module):
    """A graph of layers from ``nn.Input`` tensors to output tensors (Keras' functional model).

    ``Model(inputs=x, outputs=y)``; ``Model([x1, x2], [y1, y2])`` for several (then ``model(b1,
    b2)`` returns a tuple and ``model.backward(g1, g2)`` returns the input gradients as a tuple).
    Layers are registered in topological order under names from their class ("conv2d",
    "conv2d_1", ...; a layer's ``name`` attribute, if it is a str, is used instead), so the same
    architecture built twice has the same state_dict keys. A layer called on several nodes is one
    layer: its weights are shared and its gradients summed.

    Backward runs the nodes in reverse; a node none of whose outputs received a gradient is
    skipped; a layer with several outputs (Split) gets None for an output without one."""

    _per_call = ("_node_records",)

    def __init__(self, inputs, outputs, name=None):
        super().__init__()
        ins, many_in = _as_tensors(inputs, "inputs")
        outs, many_out = _as_tensors(outputs, "outputs")
        for i, t in enumerate(ins):
            if not isinstance(t.node, _InputNode):
                raise ValueError(f"Model: inputs[{i}]: expected a tensor made by nn.Input, got "
                                 f"{t!r}")
        if len({id(t) for t in ins}) != len(ins):
            raise ValueError("Model: inputs: the same Input is listed twice")
        graph, order = _compile(ins, outs)
        names, used = {}, set()  # id(layer) -> name
        for node in order:
            layer = node.layer
            if id(layer) in names:
                continue
            base = getattr(layer, "__dict__", {}).get("name")
            base = base if isinstance(base, str) and base and "." not in base else \
                _snake(type(layer).__name__)
            cand, k = base, 0
            while cand in used or hasattr(Model, cand) or cand in self.__dict__:
                k += 1
                cand = f"{base}_{k}"
            used.add(cand)
            names[id(layer)] = cand
        graph.names = [names[id(node.layer)] for node in order]
        # Everything is checked: register (a model that fails to build registers nothing).
        for node in order:
            if names[id(node.layer)] not in self._modules:
                setattr(self, names[id(node.layer)], node.layer)
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_input_names", [t.node.name for t in ins])
        object.__setattr__(self, "_many", (many_in, many_out))
        object.__setattr__(self, "name", name)

    # -- introspection --------------------------------------------------------------------------
    @property
    def layers(self):
        """The distinct layers in topological order."""
        return list(self._modules.values())

    @property
    def input_shapes(self):
        return list(self._graph.in_shapes)

    @property
    def output_shapes(self):
        return list(self._graph.out_shapes)

    def summary(self):
        """A table: each node's layer (name and class), output shape(s), parameter count."""
        rows = [("layer", "output shape", "params")]
        for k, s in enumerate(self._graph.in_shapes):
            rows.append((f"input_{k} (Input)", str(s), "0"))
        counted = set()
        g = self._graph
        shapes = self._node_shapes()
        for i, (layer, _, _) in enumerate(g.nodes):
            n = 0
            if id(layer) not in counted:
                counted.add(id(layer))
                n = sum(p.size for p in layer.parameters())
            rows.append((f"{g.names[i]} ({type(layer).__name__})",
                         ", ".join(map(str, shapes[i])), f"{n:,}"))
        total = sum(p.size for p in self.parameters())
        w = [max(len(r[j]) for r in rows) for j in range(3)]
        lines = ["  ".join(r[j].ljust(w[j]) for j in range(3)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {total:,}")
        return "\n".join(lines)

    def _node_shapes(self):
        """Each node's output shapes, replayed symbolically from the input shapes."""
        g = self._graph
        vals = [None] * g.n_values
        for k, s in enumerate(g.in_shapes):
            vals[k] = s
        res = []
        with _calls.inference_mode():
            for layer, in_slots, out_slots in g.nodes:
                if hasattr(layer, "infer_shape"):
                    out = np.empty((0,) + tuple(layer.infer_shape(
                        *[vals[s] for s in in_slots]))[1:], np.float32)
                else:
                    out = layer.forward(*[np.zeros((1,) + vals[s][1:], np.float32)
                                          for s in in_slots])
                outs = out if isinstance(out, tuple) else (out,)
                for s, o in zip(out_slots, outs):
                    vals[s] = (None,) + np.shape(o)[1:]
                res.append([vals[s] for s in out_slots])
        return res

    # -- running --------------------------------------------------------------------------------
    def forward(self, *xs):
        g = self._graph
        if len(xs) != g.n_in:
            raise TypeError(f"Model: expected {g.n_in} input(s), got {len(xs)}")
        arrays = []
        for k, (x, shape) in enumerate(zip(xs, g.in_shapes)):
            x = np.asarray(x)
            if x.ndim != len(shape) or x.shape[1:] != shape[1:]:
                want = "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"
                raise ValueError(f"Model: input {k}: expected shape {want}, got {x.shape}")
            arrays.append(x)
        res = _exec.run_forward(self, arrays, "Model")
        return res if self._many[1] else res[0]

    def backward(self, *grads):
        g = self._graph
        if len(grads) != len(g.outs):
            raise TypeError(f"Model.backward: expected {len(g.outs)} gradient(s), one per output, "
                            f"got {len(grads)}")
        res = _exec.run_backward(self, [None if v is None else np.asarray(v) for v in grads],
                                 "Model")
        return res if self._many[0] else res[0]

    # -- architecture ---------------------------------------------------------------------------
    def __setattr__(self, name, value):
        """Assigning a new layer to a registered name replaces it in every node that uses it
        (how to_sparse and other conversions swap layers); the graph's shapes are checked."""
        old = self.__dict__.get("_modules", {}).get(name)
        if old is not None and "_graph" in self.__dict__ and value is not old:
            if not isinstance(value, Module):
                raise TypeError(f"Model: {name}: expected a Module to replace the layer, got "
                                f"{type(value).__name__}")
            g = self._graph
            before = g.nodes
            g.nodes = [(value if layer is old else layer, i, o) for layer, i, o in before]
            try:
                self._node_shapes_checked()
            except (ValueError, TypeError):
                g.nodes = before
                raise
            g.fused_with = _exec._fusion(g.nodes, g.uses)
        super().__setattr__(name, value)

    def _node_shapes_checked(self):
        g = self._graph
        shapes = self._node_shapes()
        for i, (layer, _, out_slots) in enumerate(g.nodes):
            for s, shp in zip(out_slots, shapes[i]):
                for k, o in enumerate(g.outs):
                    if o == s and tuple(g.out_shapes[k]) != tuple(shp):
                        raise ValueError(f"Model: {g.names[i]}: the new layer gives output shape "
                                         f"{shp}, the model's output {k} is {g.out_shapes[k]}")

    def rebuild(self, replace):
        """A new Model of the same graph with some nodes' layers replaced: ``replace`` maps a
        node index (see ``nodes()``) to a new layer, or to None to drop a node of one input
        and one output (its consumers then read its input). Kept layers are shared with this
        model, and keep their names."""
        g = self._graph
        ins = [Input(s[1:], nm) for s, nm in zip(g.in_shapes, self._input_names)]
        vals = dict(enumerate(ins))
        hinted = []
        try:
            for i, (layer, in_slots, out_slots) in enumerate(g.nodes):
                new = replace.get(i, layer)
                if new is None:
                    if len(in_slots) != 1 or len(out_slots) != 1:
                        raise ValueError(f"Model.rebuild: node {i} ({g.names[i]}) has "
                                         f"{len(in_slots)} inputs and {len(out_slots)} outputs; "
                                         "only a node with one of each can be dropped")
                    vals[out_slots[0]] = vals[in_slots[0]]
                    continue
                if "name" not in new.__dict__:
                    object.__setattr__(new, "name", g.names[i])
                    hinted.append(new)
                out = new(*[vals[k] for k in in_slots])
                for k, t in zip(out_slots, out if isinstance(out, tuple) else (out,)):
                    vals[k] = t
            outs = [vals[k] for k in g.outs]
            many_in, many_out = self._many
            new = Model(ins if many_in else ins[0], outs if many_out else outs[0],
                        name=self.name)
            object.__setattr__(new, "_training", self._training)
            return new
        finally:
            for m in hinted:
                m.__dict__.pop("name", None)

    def nodes(self):
        """[(name, layer, input slots, output slots)] in execution order; slots 0..n_inputs-1
        are the model's inputs, then each node's outputs in order."""
        g = self._graph
        return [(nm, layer, ins, outs) for nm, (layer, ins, outs) in zip(g.names, g.nodes)]

    def consumers(self, slot):
        """Indices of the nodes that read value ``slot`` (and whether a model output is it)."""
        return self._graph.consumers(slot)

    def get_config(self):
        g = self._graph
        names = g.names
        layers, done = [], set()
        for name, (layer, _, _) in zip(names, g.nodes):
            if name not in done:
                done.add(name)
                layers.append({"name": name, "spec": layer.to_spec()})
        return {"inputs": [{"shape": list(s[1:]), "name": nm}
                           for s, nm in zip(g.in_shapes, self._input_names)],
                "layers": layers,
                "nodes": [{"layer": nm, "inputs": list(ins),
                           "shapes": [list(shp[1:]) for shp in out_shapes]}
                          for nm, (_, ins, _), out_shapes in zip(names, g.nodes,
                                                                 self._node_shapes())],
                "outputs": list(g.outs),
                "multiple": list(self._many), "name": self.name}

    @classmethod
    def from_config(cls, config):
        for key in ("inputs", "layers", "nodes", "outputs"):
            if not isinstance(config.get(key), list):
                raise ValueError(f"Model: {key}: expected a list, got {_short(config.get(key))}")
        tensors = []
        for i, spec in enumerate(config["inputs"]):
            if not isinstance(spec, dict):
                raise ValueError(f"Model: inputs[{i}]: expected a dict, got {_short(spec)}")
            tensors.append(Input(spec.get("shape"), spec.get("name")))
        ins = list(tensors)
        layers = {}
        for i, entry in enumerate(config["layers"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValueError(f"Model: layers[{i}]: expected {{'name': str, 'spec': ...}}, got "
                                 f"{_short(entry)}")
            layer = module_from_config(entry.get("spec"), f"layers[{i}]")
            object.__setattr__(layer, "name", entry["name"])
            layers[entry["name"]] = layer
        for i, node in enumerate(config["nodes"]):
            if (not isinstance(node, dict) or node.get("layer") not in layers
                    or not isinstance(node.get("inputs"), list)):
                raise ValueError(f"Model: nodes[{i}]: expected {{'layer': a name in layers, "
                                 f"'inputs': [slots]}}, got {_short(node)}")
            args = []
            for s in node["inputs"]:
                if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < len(tensors):
                    raise ValueError(f"Model: nodes[{i}]: input slot {_short(s)} does not name an "
                                     f"earlier tensor (0..{len(tensors) - 1})")
                args.append(tensors[s])
            shapes = node.get("shapes")
            if not isinstance(shapes, list) or not shapes or not all(
                    isinstance(shp, list) and all(isinstance(d, int) and not isinstance(d, bool)
                                                  and 0 <= d < 2**62 for d in shp)
                    for shp in shapes):
                raise ValueError(f"Model: nodes[{i}]: shapes: expected a list of output shapes, "
                                 f"got {_short(shapes)}")
            # The saved shapes, not a forward: the layers' weights are not loaded yet.
            made = _Node(layers[node["layer"]], args)
            made.outputs = tuple(SymbolicTensor([None] + shp, made, k)
                                 for k, shp in enumerate(shapes))
            tensors.extend(made.outputs)
        outs = []
        for s in config["outputs"]:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < len(tensors):
                raise ValueError(f"Model: outputs: slot {_short(s)} does not name a tensor")
            outs.append(tensors[s])
        many = config.get("multiple", [len(ins) > 1, len(outs) > 1])
        model = cls(ins if many[0] else ins[0], outs if many[1] else outs[0],
                    name=config.get("name"))
        for layer in layers.values():  # the names were for building; a layer keeps none
            layer.__dict__.pop("name", None)
        return model

    def extra_repr(self):
        ins = ", ".join(str(s) for s in self._graph.in_shapes)
        outs = ", ".join(str(s) for s in self._graph.out_shapes)
        return f"inputs=[{ins}], outputs=[{outs}]"


def expand(module):
    """The leaf view of any model: ``(n_inputs, nodes, outputs)`` with ``nodes`` a list of
    ``(path, layer, input slots, output slots)`` in execution order, every container (anything
    with a ``_graph``: Model, Sequential, Residual, nested) opened into its nodes. Slots
    ``0 .. n_inputs-1`` are the model's inputs; ``path`` is the layer's ``named_modules`` name
    ("2.block.0"; a Residual's join has its Residual's path). A leaf module is one node."""
    g = module._graph
    n_in = 1 if g is None else g.n_in
    nodes, nxt = [], [n_in]

    def walk(m, ins, path, n_out):
        g = m._graph
        if g is None:
            outs = list(range(nxt[0], nxt[0] + n_out))
            nxt[0] += n_out
            nodes.append((path, m, list(ins), outs))
            return outs
        slots = dict(zip(g.ins, ins))
        for name, (layer, gins, gouts) in zip(g.names, g.nodes):
            sub = f"{path}.{name}" if path and name else (name or path)
            outs = walk(layer, [slots[s] for s in gins], sub, len(gouts))
            slots.update(zip(gouts, outs))
        return [slots[s] for s in g.outs]

    outs = walk(module, list(range(n_in)), "", 1)
    return n_in, nodes, outs


def as_model(module, sample_shape=None):
    """The same layer objects as a flat ``nn.Model`` of the leaf view (``expand``): code written
    for graphs (quantization by chains, pre-training) takes any model. Layers are named after
    their path ("2_block_0" for ``model[2].block[0]``). ``sample_shape``: one sample's shape (a
    list of them for several inputs); default: the model's own input shapes (an nn.Model)."""
    n_in, nodes, outs = expand(module)
    if sample_shape is None:
        g = module._graph
        if g is None or g.in_shapes is None:
            raise ValueError(f"as_model: sample_shape: required for a {type(module).__name__} "
                             "(one sample's shape)")
        shapes = [s[1:] for s in g.in_shapes]
    else:
        shapes = list(sample_shape) if n_in > 1 else [sample_shape]
    ins = [Input(s) for s in shapes]
    vals = dict(enumerate(ins))
    hinted = []
    try:
        for path, layer, in_slots, out_slots in nodes:
            if "name" not in layer.__dict__:
                object.__setattr__(layer, "name",
                                   path.replace(".", "_") or _snake(type(layer).__name__))
                hinted.append(layer)
            out = layer(*[vals[s] for s in in_slots])
            vals.update(zip(out_slots, out if isinstance(out, tuple) else (out,)))
        res = [vals[s] for s in outs]
        many = getattr(module, "_many", (n_in > 1, len(res) > 1))
        return Model(ins if many[0] else ins[0], res if many[1] else res[0])
    finally:
        for m in hinted:
            m.__dict__.pop("name", None)
