"""Static quantization of graph models (``nn.Model``).

After BatchNorm folding, the graph is cut into chains: maximal runs of nodes with one input and
one output, each node the only reader of the one before, no layer shared. Every chain that holds a
Linear or a Conv2d (groups 1) is quantized as a Sequential would be (``quantize``: calibration
on the tensors that reach the chain, the same per-layer error and speed checks, uint8 between its
ops) and becomes one ``QuantizedSegment`` node. Then Add and Concat joints run on uint8 where
their inputs allow, and uint8 tensors cross them without a float round trip
(fastnn/quant/graph_u8.py); the other joints (Split, Multiply, an Add / Concat with a float input)
and the layers without an int8 version run in float. The result is an ``nn.Model`` for inference
(``fastnn.predict``, ``fastnn.evaluate``, ``fastnn.save`` / ``load``).
"""
import copy
import json

import numpy as np

from fastnn import _C
from fastnn.nn import _calls
from fastnn.nn.linear import Linear
from fastnn.nn.conv import Conv2d
from fastnn.nn.merge import Add, Concat
from fastnn.nn.module import Module, Sequential, new_array, register

__all__ = ["QuantizedSegment", "quantize_graph", "chains"]


@register
class QuantizedSegment(Module):
    """A chain of a graph model's layers quantized to int8 (a ``QuantizedModel`` inside): float
    in, float out -- or uint8 at an end that meets a uint8 joint (``with_uint8_ends``). Inference only. Its stages' tensors are buffers (``qmodel/<stage>/<name>``
    become ``s<stage>_<name>``), so it is saved and loaded like any layer."""

    inference_only = True

    def __init__(self, spec, shapes, io_shapes, u8_in=None, u8_out=False):
        super().__init__()
        if u8_in is not None:
            from fastnn.quant.graph_u8 import _q
            u8_in = _q(u8_in, "QuantizedSegment: u8_in")
        self.u8_in, self.u8_out = u8_in, bool(u8_out)
        if not isinstance(spec, dict) or not isinstance(shapes, dict):
            raise TypeError("QuantizedSegment: spec and shapes: expected JSON objects")
        if (not isinstance(io_shapes, list) or len(io_shapes) != 2 or not all(
                isinstance(s, list) and all(isinstance(d, int) and not isinstance(d, bool)
                                            and 1 <= d < 2**31 for d in s) for s in io_shapes)):
            raise ValueError(f"QuantizedSegment: io_shapes: expected [input shape, output shape] "
                             f"of one sample, got {io_shapes!r}")
        self.spec, self.io_shapes = spec, io_shapes
        self._qmodel = None
        for name, (shape, dtype) in shapes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"QuantizedSegment: shapes: bad buffer name {name!r}")
            try:
                dt = np.dtype(dtype)
            except TypeError:
                raise ValueError(f"QuantizedSegment: shapes: {name}: bad dtype {dtype!r}") \
                    from None
            self.register_buffer(name, new_array(shape, 0, dt, name), dt)

    def infer_shape(self, in_shape):
        """The output shape (batch dimension first) for ``in_shape``, without running: graph
        building calls this, as the stages' tensors may not be loaded yet."""
        if list(in_shape[1:]) != self.io_shapes[0]:
            raise ValueError(f"QuantizedSegment: input: expected shape (N, "
                             f"{', '.join(map(str, self.io_shapes[0]))}), got {in_shape}")
        return (in_shape[0],) + tuple(self.io_shapes[1])

    @classmethod
    def from_qmodel(cls, qmodel, in_shape, out_shape):
        spec, arrays = qmodel._module_state()
        shapes = {k: [list(a.shape), a.dtype.str.lstrip("<>|=")] for k, a in arrays.items()}
        seg = cls(json.loads(json.dumps(spec)), shapes,
                  [[int(d) for d in in_shape], [int(d) for d in out_shape]])
        for name, arr in arrays.items():
            seg.set_buffer(name, arr)
        seg._qmodel = qmodel
        return seg

    def qmodel(self):
        """The QuantizedModel (rebuilt from the buffers after a load or a state_dict change)."""
        if self._qmodel is None:
            from fastnn.quant.model import QuantizedModel
            self._qmodel = QuantizedModel._from_state_checked(self.spec,
                                                              dict(self.named_buffers()))
        return self._qmodel

    def load_state_dict(self, state_dict, strict=True):
        res = super().load_state_dict(state_dict, strict)
        self._qmodel = None
        return res

    def set_buffer(self, name, value):
        super().set_buffer(name, value)
        self._qmodel = None

    def with_uint8_ends(self, u8_in, u8_out):
        """This segment taking a uint8 input with parameters ``u8_in`` ([scale, zero point], in
        place of its Quantize stage; None: float input) and/or giving a uint8 output with
        parameters ``u8_out`` (None: float): its final Dequantize is dropped, or its final QLinear
        writes uint8 with them -- fastnn/quant/graph_u8.py."""
        spec = copy.deepcopy(self.spec)
        if u8_out is not None:
            last = spec["stages"][-1]
            if last["class"] == "Dequantize":
                del spec["stages"][-1]
            elif last["class"] == "QLinear":
                last["config"].update(out_scale=float(u8_out[0]), out_zero_point=int(u8_out[1]))
            else:
                raise ValueError(f"QuantizedSegment: u8_out: the last stage ({last['class']}) "
                                 f"writes no uint8 tensor")
        seg = QuantizedSegment(spec, self.get_config()["shapes"], self.io_shapes, u8_in,
                               u8_out is not None)
        for name, buf in self.named_buffers():
            seg.set_buffer(name, buf)
        return seg

    def float_forward(self, x):
        """The segment on a float input (NCHW), giving a float output: its uint8 ends replaced
        by the float tensors they stand for (the ONNX exporter's sample values)."""
        y = self.qmodel().predict(x)
        if y.dtype == np.uint8:  # a uint8 end: the last stage's output parameters
            from fastnn.quant.stages import Dequantize, to_float
            last = self.qmodel().stages[-1]
            q = last.out_q if not isinstance(last, Dequantize) else (last.scale, last.zero_point)
            y = to_float(y, q, last.out_layout)
        return y

    def forward(self, x):
        if self.u8_in is None:
            return self.qmodel().predict(x)
        stages = self.qmodel().stages
        first, stages = stages[0], stages[1:]  # requantized from the producer's parameters
        if [first.scale, first.zero_point] != self.u8_in:
            x = _C.concat_u8([x], [self.u8_in[0]], [self.u8_in[1]], first.scale,
                             first.zero_point)
        elif not (isinstance(x, np.ndarray) and x.dtype == np.uint8):
            raise TypeError(f"QuantizedSegment: input: expected uint8, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
        for stage in stages:
            x = stage.run(x)
        return x

    def backward(self, grad_out):
        raise RuntimeError("QuantizedSegment is inference-only: fine-tune the float model, then "
                           "quantize it again")

    def get_config(self):
        config = {"spec": self.spec, "io_shapes": self.io_shapes,
                  "shapes": {k: [list(b.shape), b.dtype.str.lstrip("<>|=")]
                             for k, b in self._buffers.items()}}
        if self.u8_in is not None or self.u8_out:  # files of float-ended segments stay as they were
            config.update(u8_in=self.u8_in, u8_out=self.u8_out)
        return config

    def __getstate__(self):
        state = super().__getstate__()
        state["_qmodel"] = None
        return state

    def extra_repr(self):
        names = [r["name"] for r in self.spec.get("layers", [])]
        return "layers=" + ",".join(names)


def _quantizable(layer):
    return isinstance(layer, Linear) or (isinstance(layer, Conv2d) and layer.groups == 1)


def chains(model):
    """Maximal chains of ``model``'s nodes, as lists of node indices (see the module doc)."""
    nodes = model.nodes()
    uses = {}
    for _, layer, _, _ in nodes:
        uses[id(layer)] = uses.get(id(layer), 0) + 1
    simple = [len(ins) == 1 and len(outs) == 1 and uses[id(layer)] == 1
              for _, layer, ins, outs in nodes]
    taken, result = set(), []
    for i in range(len(nodes)):
        if i in taken or not simple[i]:
            continue
        run = [i]
        while True:
            out = nodes[run[-1]][3][0]
            readers, is_output = model.consumers(out)
            if is_output or len(readers) != 1 or not simple[readers[0]] or readers[0] in taken:
                break
            run.append(readers[0])
        taken.update(run)
        result.append(run)
    return result


def _collect(model, x, slots, batch_size):
    """The values of ``slots`` over the calibration data, run through the float graph."""
    got = {s: [] for s in slots}
    with _calls.inference_mode():
        for b0 in range(0, len(x), batch_size):
            vals = {0: x[b0:b0 + batch_size]}
            for _, layer, ins, outs in model.nodes():
                out = layer.forward(*[vals[s] for s in ins])
                for s, o in zip(outs, out if isinstance(out, tuple) else (out,)):
                    vals[s] = o
            for s in slots:
                got[s].append(np.asarray(vals[s], np.float32))
    return {s: np.concatenate(v) for s, v in got.items()}


def quantize_graph(model, x, quantize_chain, batch_size, wanted=None):
    """``model`` (folded, eval, a copy) with each quantizable chain replaced by a segment;
    ``quantize_chain(sequential, calibration_inputs, after_joint)`` -> QuantizedModel
    (``after_joint``: the chain's input comes from an Add / Concat)."""
    if len(model.input_shapes) != 1:
        raise ValueError("model: quantize takes a graph model with one input (calibration_data "
                         "is one array)")
    wanted = wanted or _quantizable
    runs = [r for r in chains(model) if any(wanted(model.nodes()[i][1]) for i in r)]
    if not runs:
        raise ValueError("model: no quantizable layer (Linear, or Conv2d with groups=1) in the "
                         "graph")
    nodes = model.nodes()
    shapes = model._node_shapes()
    in_shape = {s: shp for s, shp in zip(range(len(model.input_shapes)), model.input_shapes)}
    for (_, _, _, outs), shp in zip(nodes, shapes):
        in_shape.update(zip(outs, shp))
    inputs = ({} if x is None else
              _collect(model, x, [nodes[r[0]][2][0] for r in runs], batch_size))
    replace = {}
    for r in runs:
        seq = Sequential(*[copy.deepcopy(nodes[i][1]) for i in r])
        src = nodes[r[0]][2][0]  # a chain right after an Add / Concat may get uint8 from it
        after_joint = any(src in outs and isinstance(layer, (Add, Concat))
                          for _, layer, _, outs in nodes)
        q = quantize_chain(seq, inputs.get(src), after_joint)
        replace[r[0]] = QuantizedSegment.from_qmodel(q, in_shape[nodes[r[0]][2][0]][1:],
                                                     in_shape[nodes[r[-1]][3][0]][1:])
        for i in r[1:]:
            replace[i] = None
    qmodel = model.rebuild(replace)
    if x is None:
        return qmodel
    from fastnn.quant.graph_u8 import uint8_joins
    return uint8_joins(qmodel, model, x, batch_size, _collect)
