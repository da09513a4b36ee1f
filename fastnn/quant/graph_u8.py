"""uint8 between the int8 segments of a quantized graph: Add and Concat joints on uint8.

``quantize_graph`` cuts a branched model into chains, each an int8 ``QuantizedSegment`` (float in,
float out). This pass then lets uint8 tensors cross the joints:

- A *joint* -- an ``Add`` of two inputs of one shape, or a ``Concat(dim=1)`` of 4-D (NCHW) or 2-D
  tensors -- becomes a ``QuantizedJoin`` when every input arrives as uint8 in one layout (NHWC
  for 4-D, plain for 2-D). It runs one C++ call (``_C.add_u8`` / ``_C.concat_u8``) that
  requantizes each input from its own (scale, zero point) to the joint's output parameters, chosen
  from the min/max of the joint's float output over the calibration data (a tensor whose inputs
  already share the output's parameters is copied, not requantized).
- A value travels as uint8 when its producer can emit uint8 (a segment ending in a Dequantize
  stage, or a QuantizedJoin), it is not a model output, and every reader takes uint8 in its layout
  (a QuantizedJoin, or a segment starting with a Quantize stage in that layout). A segment then
  drops its final Dequantize, or its final QLinear writes uint8 (parameters from the min/max of
  its output over the calibration data), and its first Quantize; a reader whose parameters differ
  from the producer's requantizes on entry (``u8_in``: the producer's parameters; one uint8 pass,
  ``_C.concat_u8`` with one input). A QuantizedJoin whose output has a float reader dequantizes it
  (``float_out``).

Nothing stays float because the model branches: a joint stays float only when an input is float
for a reason of its own (a layer without an int8 version, Multiply, Split, a layout the kernels do
not join, such as a flattened NHWC tensor).
"""
import numpy as np

from fastnn import _C
from fastnn.nn.merge import Add, Concat
from fastnn.nn.module import Module, register

__all__ = ["QuantizedJoin", "uint8_joins"]


def _q(v, name):
    if (not isinstance(v, (list, tuple)) or len(v) != 2 or isinstance(v[0], bool)
            or not isinstance(v[0], (int, float)) or not np.isfinite(v[0]) or not v[0] > 0
            or isinstance(v[1], bool) or not isinstance(v[1], int) or not 0 <= v[1] <= 255):
        raise ValueError(f"{name}: expected [scale > 0, zero point in [0, 255]], got {v!r}")
    return [float(v[0]), int(v[1])]


@register
class QuantizedJoin(Module):
    """Add (two inputs) or Concat (channels) of uint8 tensors, each with its (scale, zero point)
    in ``in_q``, written with ``out_q``; ``layout`` "nhwc" (4-D) or "plain" (2-D). With
    ``float_out`` the result is dequantized (NCHW again for "nhwc"). Inference only."""

    inference_only = True

    def __init__(self, kind, in_q, out_q, layout, float_out=False):
        super().__init__()
        if kind not in ("add", "concat"):
            raise ValueError(f"QuantizedJoin: kind: expected 'add' or 'concat', got {kind!r}")
        if layout not in ("nhwc", "plain"):
            raise ValueError(f"QuantizedJoin: layout: expected 'nhwc' or 'plain', got {layout!r}")
        if not isinstance(in_q, list) or len(in_q) < (2 if kind == "add" else 1) \
                or (kind == "add" and len(in_q) != 2):
            raise ValueError(f"QuantizedJoin: in_q: expected one [scale, zero point] per input "
                             f"({'2' if kind == 'add' else '1 or more'}), got {in_q!r}")
        self.kind, self.layout, self.float_out = kind, layout, bool(float_out)
        self.in_q = [_q(v, f"QuantizedJoin: in_q[{i}]") for i, v in enumerate(in_q)]
        self.out_q = _q(out_q, "QuantizedJoin: out_q")

    def infer_shape(self, *shapes):
        """The output shape (NCHW, as the float graph sees it) for the inputs' shapes."""
        if len(shapes) != len(self.in_q):
            raise ValueError(f"QuantizedJoin: expected {len(self.in_q)} inputs, got "
                             f"{len(shapes)}")
        if self.kind == "add":
            return tuple(shapes[0])
        return (shapes[0][0], sum(s[1] for s in shapes)) + tuple(shapes[0][2:])

    def forward(self, *xs):
        if len(xs) != len(self.in_q):
            raise ValueError(f"QuantizedJoin: expected {len(self.in_q)} inputs, got {len(xs)}")
        (so, zo) = self.out_q
        if self.kind == "add":
            (sa, za), (sb, zb) = self.in_q
            y = _C.add_u8(xs[0], sa, za, xs[1], sb, zb, so, zo)
        else:
            y = _C.concat_u8(list(xs), [q[0] for q in self.in_q], [q[1] for q in self.in_q],
                             so, zo)
        if self.float_out:
            return _C.dequantize_u8(y, so, zo, self.layout == "nhwc" and y.ndim == 4)
        return y

    def float_forward(self, *xs):
        """The join on float inputs (NCHW), giving a float output: the inputs quantized with
        ``in_q`` first (the ONNX exporter's sample values)."""
        nhwc = self.layout == "nhwc"
        u8 = [_C.quantize_u8(np.asarray(x, np.float32), s, z, nhwc and np.ndim(x) == 4)
              for x, (s, z) in zip(xs, self.in_q)]
        y = QuantizedJoin(self.kind, self.in_q, self.out_q, self.layout).forward(*u8)
        return _C.dequantize_u8(y, self.out_q[0], self.out_q[1], nhwc and y.ndim == 4)

    def backward(self, *grads):
        raise RuntimeError("QuantizedJoin is inference-only: fine-tune the float model, then "
                           "quantize it again")

    def get_config(self):
        return {"kind": self.kind, "in_q": self.in_q, "out_q": self.out_q,
                "layout": self.layout, "float_out": self.float_out}

    def extra_repr(self):
        return f"{self.kind}, layout={self.layout}" + (", float out" if self.float_out else "")


def _segment_ends(seg, stages, in_ndim):
    """(the layout a uint8 input must have, or None; (scale, zero point, layout) of a uint8
    output, or None). A segment ending in a Dequantize gives that stage's uint8 tensor; one
    ending in a QLinear with a float output gives uint8 once the QLinear writes uint8 --
    (None, None, "plain"): parameters calibrated later."""
    from fastnn.quant.stages import Dequantize, QLinear, Quantize
    first, last = stages[0], stages[-1]
    takes = None
    if isinstance(first, Quantize):
        takes = "nhwc" if first.nhwc and in_ndim == 4 else (
            "plain" if not first.nhwc and in_ndim == 2 else None)
    gives, out_ndim = None, 1 + len(seg.io_shapes[1])
    if isinstance(last, Dequantize) and last.layout[0] in ("plain", "nhwc"):
        lay = last.layout[0]
        if (lay == "nhwc" and out_ndim == 4) or (lay == "plain" and out_ndim == 2):
            gives = (last.scale, last.zero_point, lay)
    elif isinstance(last, QLinear) and last.out_q is None and out_ndim == 2:
        gives = (None, None, "plain")
    return takes, gives


def _joint_kind(layer, in_shapes):
    """'add' / 'concat' when the kernels can join these inputs on uint8, else None."""
    if isinstance(layer, Add) and len(in_shapes) == 2 and in_shapes[0] == in_shapes[1]:
        return "add"
    if (type(layer) is Concat and len({len(s) for s in in_shapes}) == 1
            and len(in_shapes[0]) in (2, 4) and layer.dim in (1, 1 - len(in_shapes[0]))):
        return "concat"
    return None


def uint8_joins(qmodel, folded, x, batch_size, collect):
    """``qmodel`` (the segments' graph) with Add/Concat joints on uint8 (see the module doc);
    ``folded``: the float graph it was cut from (same joint layer objects), ``collect(model, x,
    slots, batch_size)`` -> {slot: float values}. Returns ``qmodel`` unchanged when no joint
    qualifies."""
    from fastnn.quant.graph import QuantizedSegment
    nodes = qmodel.nodes()
    n_in = len(qmodel.input_shapes)
    shapes = dict(enumerate(qmodel.input_shapes))
    for (_, _, _, outs), shp in zip(nodes, qmodel._node_shapes()):
        shapes.update(zip(outs, shp))
    producer = {s: i for i, n in enumerate(nodes) for s in n[3]}
    outputs = set(qmodel._graph.outs)
    takes, gives, joints = {}, {}, {}
    for i, (_, layer, ins, outs) in enumerate(nodes):
        if isinstance(layer, QuantizedSegment):
            takes[i], gives[i] = _segment_ends(layer, layer.qmodel().stages, len(shapes[ins[0]]))
        else:
            kind = _joint_kind(layer, [tuple(shapes[s]) for s in ins])
            if kind is not None:
                joints[i] = kind

    def slot_layout(s, live):
        """The uint8 layout of value s given the live joints, or None (float)."""
        if s < n_in or s in outputs:
            return None
        p = producer[s]
        if p in live:
            lay = live[p]
        elif gives.get(p) is not None:
            lay = gives[p][2]
        else:
            return None
        for r in qmodel.consumers(s)[0]:
            if r not in live and takes.get(r) != lay:
                return None
        return lay

    live = {}
    for j, kind in joints.items():  # a joint's layout: that of its inputs (4-D: NHWC)
        live[j] = "nhwc" if len(shapes[nodes[j][2][0]]) == 4 else "plain"
    changed = True
    while changed:  # drop joints with a float input until none is left
        changed = False
        for j in list(live):
            if any(slot_layout(s, live) != live[j] for s in nodes[j][2]):
                del live[j]
                changed = True
    if not live:
        return qmodel
    # the joints' output parameters: min/max of their float outputs over the calibration data
    fnodes = folded.nodes()
    where = {id(layer): k for k, (_, layer, _, _) in enumerate(fnodes)}
    out_slot = {j: fnodes[where[id(nodes[j][1])]][3][0] for j in live}
    values = collect(folded, x, list(out_slot.values()), batch_size)
    qparams = {}
    for j, s in out_slot.items():
        v = values[s]
        qparams[j] = _C.choose_qparams_u8(float(v.min()), float(v.max()))

    calibrate = [i for i, g in gives.items() if g is not None and g[0] is None
                 and slot_layout(nodes[i][3][0], live) is not None]
    if calibrate:  # QLinear-ended segments: their float outputs in the quantized graph
        values = collect(qmodel, x, [nodes[i][3][0] for i in calibrate], batch_size)
        for i in calibrate:
            v = values[nodes[i][3][0]]
            gives[i] = tuple(_C.choose_qparams_u8(float(v.min()), float(v.max()))) + ("plain",)

    def source_q(s):
        p = producer[s]
        return list(qparams[p]) if p in live else [gives[p][0], gives[p][1]]

    replace = {}
    for j in live:
        ins = nodes[j][2]
        replace[j] = QuantizedJoin(joints[j], [source_q(s) for s in ins], list(qparams[j]),
                                   live[j], float_out=slot_layout(nodes[j][3][0], live) is None)
    for i, (_, layer, ins, outs) in enumerate(nodes):
        if not isinstance(layer, QuantizedSegment):
            continue
        u8_in = source_q(ins[0]) if slot_layout(ins[0], live) is not None else None
        u8_out = source_q(outs[0]) if slot_layout(outs[0], live) is not None else None
        if u8_in is not None or u8_out is not None:
            replace[i] = layer.with_uint8_ends(u8_in, u8_out)
    return qmodel.rebuild(replace)
