"""A ``QuantizedModel`` (or a graph model's ``QuantizedSegment``) -> ONNX in QDQ form.

ONNX's QDQ format keeps the float operators and marks every quantized tensor with a
QuantizeLinear -> DequantizeLinear pair; onnxruntime recognises the patterns and runs them as its
int8 kernels (``DQ -> Conv -> Q`` becomes QLinearConv, ``DQ -> MaxPool -> Q`` a uint8 MaxPool).
Each stage of the pipeline is written in the float model's layout (NCHW; fastnn's NHWC uint8
layouts are an implementation detail of its kernels):

- ``Quantize``: Q/DQ of the input with its scale and zero point (uint8);
- ``QConv2d``: DequantizeLinear of the int8 weights (per output channel, ``axis=0``), of the bias
  as int32 with scale = input scale x weight scale, Conv, Relu, Q/DQ of the output; a fused max
  pooling follows as MaxPool and a Q/DQ with the same parameters;
- ``QLinear``: the same around Gemm (``transB=1``); weights stored for an NHWC-flattened input get
  their columns put back in the float model's (C, H, W) order; a float32 output has no Q/DQ;
- ``QMaxPool2d`` / ``QGlobalAvgPool2d`` / ``QFlatten``: the float operator and a Q/DQ with the
  unchanged parameters; ``Dequantize``: nothing (the tensor is already its dequantized value);
- ``DynamicLinear``: DynamicQuantizeLinear -> DequantizeLinear -> Gemm;
- ``FloatStage``: its layers as the float exporter writes them.
"""
import numpy as np

from fastnn.quant import stages as S


class _QState:
    """The tensor being written: its ONNX name, and the (scale, zero point) it was last
    quantized with (None: a plain float tensor)."""

    def __init__(self, name, q=None):
        self.name, self.q = name, q


def _qdq(w, st, q, where):
    # Per-tensor parameters are written as scalars (shape []), not 1-element vectors: onnxruntime
    # (1.30) fuses DQ -> Add -> Q into com.microsoft QLinearAdd, whose type inference refuses
    # anything but scalars ("Scale and Zero-point must be a scalar").
    scale = w.init(f"{where}.scale", np.reshape(q[0], ()))
    zp = w.init(f"{where}.zero_point", np.reshape(q[1], ()), np.uint8)
    (qn,) = w.node("QuantizeLinear", [st.name, scale, zp], where + "_q")
    (dq,) = w.node("DequantizeLinear", [qn, scale, zp], where + "_dq")
    return _QState(dq, tuple(q))


def _input_q(w, st, q, where):
    """The stage's input quantized with ``q`` (a new Q/DQ only if it is not already)."""
    if st.q is not None and np.float32(st.q[0]) == np.float32(q[0]) and st.q[1] == q[1]:
        return st
    return _qdq(w, st, q, where + ".in")


def _weight_dq(w, stage, weight, where):
    """DequantizeLinear of the int8 weights, per output channel (axis 0). With
    ``w.weight_type == "uint8"`` they are stored as uint8 with zero point 128 (the same values:
    onnxruntime then uses its u8u8 kernels, which do not saturate on CPUs without VNNI)."""
    n = weight.shape[0]
    if w.weight_type == "uint8":
        q, zp = (weight.astype(np.int16) + 128).astype(np.uint8), np.full(n, 128, np.uint8)
    else:
        q, zp = weight, np.zeros(n, np.int8)
    wq = w.init(f"{where}.weight_q", q, q.dtype)
    ws = w.init(f"{where}.weight_scale", stage.weight_scale)
    wz = w.init(f"{where}.weight_zero_point", zp, zp.dtype)
    (wd,) = w.node("DequantizeLinear", [wq, ws, wz], where + "_wdq", axis=0)
    return wd


def _weights(w, stage, weight, in_scale, where):
    """DequantizeLinear of int8 weights (per output channel, axis 0) and of the int32 bias."""
    args = [_weight_dq(w, stage, weight, where)]
    n = weight.shape[0]
    if stage.bias is not None:
        bscale = (np.float64(in_scale) * stage.weight_scale.astype(np.float64)).astype(np.float32)
        bq = np.clip(np.rint(stage.bias.astype(np.float64) / bscale.astype(np.float64)),
                     -2**31, 2**31 - 1).astype(np.int32)
        bqn = w.init(f"{where}.bias_int32", bq, np.int32)
        bs = w.init(f"{where}.bias_scale", bscale)
        bz = w.init(f"{where}.bias_zero_point", np.zeros(n, np.int32), np.int32)
        (bd,) = w.node("DequantizeLinear", [bqn, bs, bz], where + "_bdq", axis=0)
        args.append(bd)
    return args


def _out(w, st, stage, where):
    if stage.relu:
        (r,) = w.node("Relu", [st.name], where + "_relu")
        st = _QState(r)
    return st if stage.out_q is None else _qdq(w, st, stage.out_q, where + ".out")


def _pool(w, st, op, kernel, stride, padding, where):
    (y,) = w.node(op, [st.name], where, kernel_shape=list(kernel), strides=list(stride),
                  pads=[int(padding[0]), int(padding[1])] * 2)
    return _qdq(w, _QState(y), st.q, where)


def _conv(w, st, stage, x, where):
    c = x.shape[3]
    kh, kw = stage.kernel_size
    n = stage.packed.n
    weight = stage.packed.unpack()[:, :kh * kw * c].reshape(n, kh, kw, c).transpose(0, 3, 1, 2)
    st = _input_q(w, st, stage.in_q, where)
    args = [st.name] + _weights(w, stage, weight, stage.in_q[0], where)
    (y,) = w.node("Conv", args, where, kernel_shape=[kh, kw], strides=list(stage.stride),
                  pads=[int(p) for p in stage.padding] * 2, dilations=list(stage.dilation))
    st = _out(w, _QState(y), stage, where)
    if stage.pool is not None:
        (k, s, p) = stage.pool
        st = _pool(w, st, "MaxPool", k, s, p, where + "_pool")
    return st


def _linear_weight(stage):
    weight = stage.packed.unpack()
    layout = getattr(stage, "in_layout", ("plain",))
    if layout[0] == "flat_nhwc":
        c, h, wd = layout[1:]
        weight = weight.reshape(len(weight), h, wd, c).transpose(0, 3, 1, 2).reshape(
            len(weight), -1)
    return weight


def _linear(w, st, stage, where):
    st = _input_q(w, st, stage.in_q, where)
    args = [st.name] + _weights(w, stage, _linear_weight(stage), stage.in_q[0], where)
    (y,) = w.node("Gemm", args, where, transB=1)
    return _out(w, _QState(y), stage, where)


def _dynamic_linear(w, st, stage, where):
    q, s, z = w.node("DynamicQuantizeLinear", [st.name], where + "_dynq", n_out=3)
    (d,) = w.node("DequantizeLinear", [q, s, z], where + "_dyndq")
    args = [d, _weight_dq(w, stage, stage.packed.unpack(), where)] + ([w.init(f"{where}.bias", stage.bias)] if stage.bias is not None else [])
    (y,) = w.node("Gemm", args, where, transB=1)
    return _out(w, _QState(y), stage, where)


def write_join(w, join, names, where):
    """A QuantizedJoin (fastnn/quant/graph_u8.py): its inputs are the dequantized tensors of the
    segments before it; Add or Concat (channels) in float, then Q/DQ with its output
    parameters -- what onnxruntime fuses into QLinearAdd / QLinearConcat."""
    if join.kind == "add":
        (y,) = w.node("Add", list(names), where)
    else:
        (y,) = w.node("Concat", list(names), where, axis=1)
    return _qdq(w, _QState(y), join.out_q, where).name


def write_quantized(w, qmodel, name, value, where, write_float):
    """Write ``qmodel``'s stages reading the ONNX tensor ``name`` (float, the float model's
    layout; ``value``: a sample of it); returns the output name. ``write_float(layer, names,
    values, where)`` writes a float layer (the float exporter's)."""
    from fastnn.nn import _calls
    st, x = _QState(name), np.asarray(value, np.float32)
    for i, stage in enumerate(qmodel.stages):
        sub = f"{where}.{stage.name or type(stage).__name__}_{i}".lstrip(".")
        t = type(stage)
        if t is S.Quantize:
            st = _input_q(w, st, (stage.scale, stage.zero_point), sub)
        elif t is S.Dequantize:
            st = _QState(st.name)
        elif t is S.QConv2d:
            st = _conv(w, st, stage, x, sub)
        elif t is S.QLinear:
            st = _linear(w, st, stage, sub)
        elif t is S.DynamicLinear:
            st = _dynamic_linear(w, st, stage, sub)
        elif t is S.QMaxPool2d:
            st = _pool(w, st, "MaxPool", stage.kernel_size, stage.stride, stage.padding, sub)
        elif t is S.QGlobalAvgPool2d:
            (y,) = w.node("GlobalAveragePool", [st.name], sub)
            if not stage.keepdim:
                (y,) = w.node("Flatten", [y], sub + "_flatten", axis=1)
            st = _qdq(w, _QState(y), st.q, sub)
        elif t is S.QFlatten:
            (y,) = w.node("Flatten", [st.name], sub, axis=1)
            st = _QState(y, st.q)
        elif t is S.FloatStage:
            v = x
            for j, layer in enumerate(stage.modules):
                (y,) = write_float(layer, [st.name], [v], f"{sub}.{j}")
                with _calls.inference_mode():
                    v = layer.forward(v)
                st = _QState(y)
        else:
            raise ValueError(f"fastnn.onnx.export: {sub}: stage {t.__name__} has no ONNX form")
        x = stage.run(x)
    return st.name
