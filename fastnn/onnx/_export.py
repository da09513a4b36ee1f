"""Any container (``nn.Model``, ``Sequential``, ``Residual``) -> ONNX (float32). The model is
traced once on a batch of one in inference mode, so every tensor's shape is known; each layer
writes its ONNX node(s) and its weights as initializers. Containers inside are inlined through
their graphs (a Residual's join is an Add). Dropout exports as Identity
(ONNX files are for inference); BatchNorm writes its running statistics."""
import numpy as np

from fastnn import nn
from fastnn.nn import _calls
from fastnn.onnx import _onnx
from fastnn.onnx._export_math import write as write_math
from fastnn.onnx._export_norm import index_inputs, write_norm

OPSETS = (13, 21)


class _Writer:
    def __init__(self, opset, weight_type="int8"):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset, self.nodes, self.inits, self.k, self.used = opset, [], [], 0, set()
        self.weight_type = weight_type

    def name(self, base):
        base = base.replace(".", "_") or "t"
        cand, k = base, 0
        while cand in self.used:
            k += 1
            cand = f"{base}_{k}"
        self.used.add(cand)
        return cand

    def init(self, base, value, dtype=np.float32):
        n = self.name(base)
        # np.array, not np.ascontiguousarray (which turns a 0-d value into shape (1,)): a scalar
        # stays a scalar, as Clip's bounds, Pad's value and per-tensor Q/DQ parameters must be.
        self.inits.append(self.numpy_helper.from_array(np.array(value, dtype, order="C"), n))
        return n

    def node(self, op, ins, where, n_out=1, **attrs):
        outs = [self.name(f"{where}_out") for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, ins, outs, name=self.name(where), **attrs))
        return outs


def _pads(p):
    return [int(p[0]), int(p[1]), int(p[0]), int(p[1])]


def _layer(w, layer, ins, vals, where):
    """Write one layer's node(s); returns the output names."""
    t = type(layer)
    x = ins[0] if ins else None
    if layer._graph is not None:  # a container (Sequential, Residual, Model): its nodes inline
        return _module(w, layer, ins, vals, where)
    from fastnn.onnx._export_1d import write as write_1d
    outs = write_1d(w, layer, x, where)
    if outs is not None:
        return outs
    if type(layer).__name__ == "QuantizedSegment":
        return [_quantized(w, layer.qmodel(), ins[0], vals[0], where)]
    if type(layer).__name__ == "QuantizedJoin":  # float inputs (already Q/DQ), then Q/DQ
        from fastnn.onnx._export_q import write_join
        return [write_join(w, layer, ins, where)]
    if t is nn.Linear:
        if vals[0].ndim != 2:
            raise ValueError(f"fastnn.onnx.export: {where} (Linear): input of {vals[0].ndim} "
                             "dimensions (export handles (N, features))")
        args = [x, w.init(f"{where}.weight", layer.weight.data)]
        if layer.bias is not None:
            args.append(w.init(f"{where}.bias", layer.bias.data))
        return w.node("Gemm", args, where, transB=1)
    if t in (nn.Conv2d, nn.ConvTranspose2d):
        args = [x, w.init(f"{where}.weight", layer.weight.data)]
        if layer.bias is not None:
            args.append(w.init(f"{where}.bias", layer.bias.data))
        attrs = dict(kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                     pads=_pads(layer.padding), dilations=list(layer.dilation),
                     group=layer.groups)
        if t is nn.ConvTranspose2d:
            return w.node("ConvTranspose", args, where,
                          output_padding=list(layer.output_padding), **attrs)
        return w.node("Conv", args, where, **attrs)
    if t in (nn.MaxPool2d, nn.AvgPool2d):
        attrs = dict(kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                     pads=_pads(layer.padding), ceil_mode=int(layer.ceil_mode))
        if t is nn.AvgPool2d:
            return w.node("AveragePool", [x], where,
                          count_include_pad=int(layer.count_include_pad), **attrs)
        return w.node("MaxPool", [x], where, dilations=list(layer.dilation), **attrs)
    if t is nn.GlobalAvgPool2d:
        (y,) = w.node("GlobalAveragePool", [x], where)
        return [y] if layer.keepdim else w.node("Flatten", [y], where + "_flatten", axis=1)
    if t is nn.LocalResponseNorm:
        if layer.size % 2 == 0:
            raise ValueError(f"fastnn.onnx.export: {where}: LocalResponseNorm with an even size "
                             f"({layer.size}): ONNX's LRN centres an even window one channel "
                             "later than PyTorch's (and onnxruntime accepts odd sizes only)")
        return w.node("LRN", [x], where, size=layer.size, alpha=layer.alpha, beta=layer.beta,
                      bias=layer.k)
    simple = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh", nn.SELU: "Selu",
              nn.Identity: "Identity", nn.Dropout: "Identity"}
    if t in simple:
        return w.node(simple[t], [x], where)
    if t is nn.LeakyReLU:
        return w.node("LeakyRelu", [x], where, alpha=float(layer.negative_slope))
    if t is nn.ELU:
        return w.node("Elu", [x], where, alpha=float(layer.alpha))
    if t is nn.GELU:
        if w.opset >= 20:
            return w.node("Gelu", [x], where, approximate=layer.approximate)
        if layer.approximate != "none":
            raise ValueError(f"fastnn.onnx.export: {where}: GELU(approximate='tanh') needs "
                             "opset >= 20")
        (d,) = w.node("Div", [x, w.init(f"{where}.sqrt2", np.float32(np.sqrt(2.0)))], where)
        (e,) = w.node("Erf", [d], where + "_erf")
        (a,) = w.node("Add", [e, w.init(f"{where}.one", np.float32(1.0))], where + "_add")
        (m,) = w.node("Mul", [x, a], where + "_mul")
        return w.node("Mul", [m, w.init(f"{where}.half", np.float32(0.5))], where + "_half")
    if t is nn.Softmax:
        return w.node("Softmax", [x], where, axis=layer.dim)
    if t is nn.LogSoftmax:
        return w.node("LogSoftmax", [x], where, axis=layer.dim)
    if t in (nn.Hardtanh, nn.ReLU6):  # Clip; an infinite bound is left out
        args = [x, "", ""]
        if np.isfinite(layer.min_val):
            args[1] = w.init(f"{where}.min", np.float32(layer.min_val))
        if np.isfinite(layer.max_val):
            args[2] = w.init(f"{where}.max", np.float32(layer.max_val))
        while args[-1] == "":
            args.pop()
        return w.node("Clip", args, where)
    if t is nn.Hardsigmoid:
        return w.node("HardSigmoid", [x], where, alpha=float(layer.alpha), beta=float(layer.beta))
    if t is nn.Hardswish:
        if w.opset >= 14:
            return w.node("HardSwish", [x], where)
        (h,) = w.node("HardSigmoid", [x], where, alpha=float(np.float32(1 / 6)), beta=0.5)
        return w.node("Mul", [x, h], where + "_mul")
    if t is nn.Softsign:
        return w.node("Softsign", [x], where)
    if t is nn.Softplus:  # ONNX's Softplus has beta 1 and no threshold (exact log(1 + e^x))
        if layer.beta == 1.0:
            return w.node("Softplus", [x], where)
        beta = w.init(f"{where}.beta", np.float32(layer.beta))
        (m,) = w.node("Mul", [x, beta], where + "_mul")
        (sp,) = w.node("Softplus", [m], where)
        return w.node("Div", [sp, beta], where + "_div")
    if t is nn.PReLU:  # the slope broadcast onto axis 1, as PyTorch writes it
        slope = layer.weight.data
        if layer.num_parameters > 1:
            slope = slope.reshape((-1,) + (1,) * (vals[0].ndim - 2))
        return w.node("PRelu", [x, w.init(f"{where}.weight", slope)], where)
    if t in (nn.Flatten, nn.Reshape):
        if t is nn.Flatten and layer.start_dim in (1, 1 - vals[0].ndim) and layer.end_dim == -1:
            return w.node("Flatten", [x], where, axis=1)
        out = np.shape(layer.forward(vals[0]))
        shape = w.init(f"{where}.shape", [-1] + list(out[1:]), np.int64)
        return w.node("Reshape", [x, shape], where)
    if t is nn.Transpose:
        return w.node("Transpose", [x], where, perm=[0] + list(layer.perm))
    if isinstance(layer, nn.Add):
        return w.node("Add" if len(ins) == 2 else "Sum", ins, where)
    if t is nn.Multiply:
        return w.node("Mul", ins, where)
    if t in (nn.AddConstant, nn.MulConstant):
        c = w.init(f"{where}.value", layer.value)
        return w.node("Add" if t is nn.AddConstant else "Mul", [x, c], where)
    if t is nn.Concat:
        return w.node("Concat", ins, where, axis=layer.dim)
    if t is nn.Split:
        d = layer.dim % vals[0].ndim
        sizes = layer._sizes(vals[0].shape[d])
        s = w.init(f"{where}.split", sizes, np.int64)
        return w.node("Split", [x, s], where, n_out=len(sizes), axis=d)
    out = write_norm(w, layer, ins, vals, where)  # [LayerNorm, Embedding, reductions]
    if out is None:  # [Batch / InstanceNorm, element-wise math, Tile]
        out = write_math(w, layer, ins, vals, where)
    if out is not None:
        return out
    if isinstance(layer, (nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle)):  # [issue 14 resize]
        from fastnn.onnx._export_resize import write
        return write(w, layer, x, vals[0], where)
    op = getattr(t, "_onnx_op", None)  # [an activation declaring its ONNX op (issue 13)]
    if op is not None:
        if w.opset < op[1]:
            raise ValueError(f"fastnn.onnx.export: {where}: {t.__name__} is ONNX {op[0]}, which "
                             f"needs opset >= {op[1]}, got opset {w.opset}")
        return w.node(op[0], [x], where)
    raise ValueError(f"fastnn.onnx.export: {where}: layer {t.__name__} has no ONNX export "
                     "(see docs/onnx.md for the supported layers)")


def _quantized(w, qmodel, name, value, where):
    from fastnn.onnx._export_q import write_quantized
    return write_quantized(w, qmodel, name, value, where,
                           lambda layer, i, v, sub: _layer(w, layer, i, v, sub))


def _module(w, module, ins, vals, where):
    g = module._graph
    names, arrays = [None] * g.n_values, [None] * g.n_values
    for k, (n, v) in enumerate(zip(ins, vals)):
        names[k], arrays[k] = n, v
    for i, (layer, in_slots, out_slots) in enumerate(g.nodes):
        sub = ".".join(p for p in (where, g.names[i]) if p) or type(layer).__name__.lower()
        a = [arrays[s] for s in in_slots]
        outs = _layer(w, layer, [names[s] for s in in_slots], a, sub)
        with _calls.inference_mode():  # a quantized graph's uint8 joins: float values here
            y = getattr(layer, "float_forward", layer.forward)(*a)
        ys = y if isinstance(y, tuple) else (y,)
        for s, n, v in zip(out_slots, outs, ys):
            names[s], arrays[s] = n, v
    return [names[s] for s in g.outs]


def export(model, path, input_shape=None, opset=17, dynamic_batch=True, weight_type="int8"):
    """See fastnn.onnx.export. A QuantizedModel (and a graph model's quantized segments) is
    written in QDQ form (see _export_q.py), its weights as ``weight_type`` ("int8", or "uint8"
    with zero point 128: the same values, for onnxruntime on CPUs without VNNI)."""
    onnx = _onnx()
    from onnx import TensorProto, helper
    from fastnn.quant.model import QuantizedModel
    quantized = isinstance(model, QuantizedModel)
    if not quantized and (not isinstance(model, nn.Module) or model._graph is None):
        raise TypeError(f"fastnn.onnx.export: model: expected a container (nn.Sequential, "
                        f"nn.Residual, nn.Model) or a QuantizedModel, got {type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not OPSETS[0] <= opset <= OPSETS[1]:
        raise ValueError(f"fastnn.onnx.export: opset: expected an int in {OPSETS[0]}..{OPSETS[1]}, "
                         f"got {opset!r}")
    if input_shape is not None:
        shapes = [tuple(input_shape)] if np.ndim(input_shape[0]) == 0 else \
            [tuple(s) for s in input_shape]
        shapes = [(None,) + s for s in shapes]
    elif not quantized and model._graph.in_shapes is not None:
        shapes = list(model._graph.in_shapes)
    elif quantized and model.input_shape is not None:
        shapes = [(None,) + tuple(model.input_shape)]
    else:
        raise ValueError("fastnn.onnx.export: input_shape: required for a Sequential, a Residual "
                         "or a QuantizedModel built without one (one sample's shape, e.g. "
                         "(1, 28, 28))")
    names = list(getattr(model, "_input_names", None) or [None])
    if weight_type not in ("int8", "uint8"):
        raise ValueError(f"fastnn.onnx.export: weight_type: expected 'int8' or 'uint8', got "
                         f"{weight_type!r}")
    w = _Writer(opset, weight_type)
    ins = [w.name(n or ("input" if len(shapes) == 1 else f"input_{k}"))
           for k, n in enumerate(names[:len(shapes)] + [None] * (len(shapes) - len(names)))]
    ints = index_inputs(model, len(shapes))  # an Embedding's input: int64 indices
    vals = [np.zeros((1,) + tuple(s[1:]), np.int64 if i else np.float32)
            for s, i in zip(shapes, ints)]
    if quantized:
        outs = [_quantized(w, model, ins[0], vals[0], "")]
        ys = model.predict(vals[0])
    else:
        outs = _module(w, model, ins, vals, "")
        with _calls.inference_mode():
            ys = model.forward(*vals)
    ys = ys if isinstance(ys, tuple) else (ys,)
    batch = "N" if dynamic_batch else 1
    g_in = [helper.make_tensor_value_info(n, TensorProto.INT64 if i else TensorProto.FLOAT,
                                          [batch] + list(s[1:]))
            for n, s, i in zip(ins, shapes, ints)]
    final = []
    for k, o in enumerate(outs):  # name the outputs output / output_k
        n = w.name("output" if len(outs) == 1 else f"output_{k}")
        w.nodes.append(helper.make_node("Identity", [o], [n], name=w.name(n + "_identity")))
        final.append(n)
    g_out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [batch] + list(y.shape[1:]))
             for n, y in zip(final, ys)]
    graph = helper.make_graph(w.nodes, getattr(model, "name", None) or "fastnn", g_in, g_out,
                              w.inits)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastnn",
                              ir_version=min(helper.find_min_ir_version_for(opsets), 10))
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, path)
    return proto
