"""``quantize`` (static post-training quantization) and ``quantize_dynamic``.

Static quantization, step by step:

1. Copy the model, eval mode, read its leaf view (every container opened), fold every BatchNorm into the
   Conv2d / Linear before it, drop Dropout (the identity in eval). Group the layers into ops:
   Linear [+ ReLU], Conv2d (groups 1) [+ ReLU], MaxPool2d, GlobalAvgPool2d, Flatten; every other
   layer is a float op.
2. Calibrate: run the float ops on the calibration batches and observe every tensor between two
   ops (observers.py: minmax, percentile or entropy). Each tensor gets uint8 (scale, zero point).
3. Plan the pipeline (stages.py): consecutive quantized ops pass uint8 tensors; Quantize /
   Dequantize stages only where float and int8 meet; a Linear / Conv2d followed by a quantized op
   requantizes to uint8 in its GEMM epilogue, a Linear followed by float (the logits) writes
   float32 straight from it. MaxPool2d, GlobalAvgPool2d and Flatten run on uint8 when their input
   is uint8 (they keep its scale and zero point), else in float.
4. Check every quantized op on the first calibration batch, fed the float model's own input to
   that op: its relative output error (below) and its time against the float op (best of
   ``repeats`` interleaved runs). An op with error > ``max_error``, or slower than its float
   version (``check_speed``), stays float, with a warning and the reason in ``model.layers``.
   Finally the whole int8 pipeline is timed against the float model: if it is slower, every layer
   stays float (warning), so a quantized model is never slower than the float one.

Error measure: the mean over samples of ``||y_int8 - y_float|| / ||y_float||`` (L2 over each
sample's output; a sample whose float output is ~0 is measured against 1e-3 of the median norm).
Default threshold ``max_error=0.1`` (10 %): per-channel int8 layers are typically at 0.3-3 %.
"""
import copy
import time
import warnings

import numpy as np

from fastnn import _C, get_num_threads, nn, set_num_threads
from fastnn.nn.module import Module, Sequential
from fastnn.quant import stages as st
from fastnn.nn.graph import as_model, expand
from fastnn.quant import graph as qgraph
from fastnn.quant.fold import fold_batchnorm, fold_pairs
from fastnn.quant.model import QuantizedModel
from fastnn.quant.observers import choose_qparams, make_observer

__all__ = ["quantize", "quantize_dynamic", "QuantizationWarning"]

_GEMM = ("linear", "conv")
_PASS = ("maxpool", "gap", "flatten")


class QuantizationWarning(UserWarning):
    """A layer (or the whole model) was kept in float by quantize's checks."""


class _Op:
    """One float op of the flattened model: its modules (a layer and a fused ReLU) and kind."""

    def __init__(self, kind, modules, name, relu=False):
        self.kind, self.modules, self.name, self.relu = kind, list(modules), name, relu
        self.reason = None
        self._seq = Sequential(*self.modules)

    @property
    def label(self):
        parts = []
        for m in self.modules:
            if isinstance(m, nn.Linear):
                parts.append(f"Linear({m.in_features}, {m.out_features})")
            elif hasattr(m, "out_channels") and hasattr(m, "kernel_size"):
                parts.append(f"{type(m).__name__}({m.in_channels}, {m.out_channels}, "
                             f"{'x'.join(str(k) for k in m.kernel_size)})")
            else:
                parts.append(type(m).__name__)
        return "+".join(parts)

    def forward(self, x):
        return self._seq(x)


def _leaf_chain(model):
    """``[(name, layer)]`` of the model's leaf view (``nn.graph.expand``) when it is a chain (one
    input, every node reading the one before, one output), else None (it branches)."""
    n_in, nodes, outs = expand(model)
    prev = 0
    for _, _, ins, out_slots in nodes:
        if ins != [prev] or len(out_slots) != 1:
            return None
        prev = out_slots[0]
    if n_in != 1 or outs != [prev]:
        return None
    return [(path or type(m).__name__, m) for path, m, _, _ in nodes]


def _build_ops(model):
    """(ops, removed records) of a deep copy of ``model`` (a chain) in eval mode, BatchNorms
    folded."""
    model = copy.deepcopy(model).eval()
    items = fold_pairs(_leaf_chain(model))
    ops, removed = [], []
    i = 0
    while i < len(items):
        name, m = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if isinstance(m, nn.Dropout):
            removed.append({"name": name, "type": "Dropout", "status": "removed",
                            "reason": "identity in eval mode", "position": len(ops)})
            i += 1
            continue
        gemm = "linear" if isinstance(m, nn.Linear) else (
            "conv" if isinstance(m, nn.Conv2d) and m.groups == 1 else None)
        if gemm:
            if nxt is not None and type(nxt[1]) is nn.ReLU:
                ops.append(_Op(gemm, [m, nxt[1]], f"{name}+{nxt[0]}", relu=True))
                i += 2
                continue
            ops.append(_Op(gemm, [m], name))
        elif isinstance(m, nn.MaxPool2d) and m.dilation == (1, 1) and not m.ceil_mode:
            ops.append(_Op("maxpool", [m], name))
        elif isinstance(m, nn.GlobalAvgPool2d):
            ops.append(_Op("gap", [m], name))
        elif isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
            ops.append(_Op("flatten", [m], name))
        else:
            op = _Op("float", [m], name)
            op.reason = ("grouped convolution: not quantized" if isinstance(m, nn.Conv2d)
                         else f"{type(m).__name__}: no int8 version")
            ops.append(op)
        i += 1
    return ops, removed


def _as_batch(data, name="calibration_data"):
    if isinstance(data, (list, tuple)) and data and all(isinstance(b, np.ndarray) for b in data) \
            and len({b.shape[1:] for b in data}) == 1 and data[0].ndim >= 2:
        data = np.concatenate(data)
    try:
        x = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected a float array of samples (N, ...): {e}") from None
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an array of samples (N, ...) with at least 2 "
                         f"dimensions, got shape {x.shape}")
    if len(x) == 0 or x.size == 0:
        raise ValueError(f"{name}: empty (shape {x.shape}); at least one sample is needed")
    return x


def _check_first_layer(ops, x, name="calibration_data"):
    """The sample shape the first Linear / Conv2d expects, where the model starts with one."""
    k = 0
    while k < len(ops) and ops[k].kind == "flatten":
        k += 1
    if k == len(ops):
        return
    m = ops[k].modules[0]
    if ops[k].kind == "linear":
        feats = int(np.prod(x.shape[1:])) if k else x.shape[-1]
        if (k == 0 and x.ndim != 2) or feats != m.in_features:
            want = f"(N, {m.in_features})" if k == 0 else f"(N, ...) with {m.in_features} values"
            raise ValueError(f"{name}: expected shape {want} for the first layer "
                             f"{ops[k].label}, got {x.shape}")
    elif ops[k].kind == "conv" and k == 0 and (x.ndim != 4 or x.shape[1] != m.in_channels):
        raise ValueError(f"{name}: expected shape (N, {m.in_channels}, H, W) for the first "
                         f"layer {ops[k].label}, got {x.shape}")


def _calibrate(ops, x, method, batch_size, options):
    names = ["input"] + [f"output of {op.name}" for op in ops]
    obs = [make_observer(method, n, **options) for n in names]
    first = None
    for pass_index in range(obs[0].passes):
        for b0 in range(0, len(x), batch_size):
            t = x[b0:b0 + batch_size]
            acts = [t] if b0 == 0 and pass_index == 0 else None
            obs[0].observe(t, pass_index)
            for i, op in enumerate(ops):
                try:
                    t = op.forward(t)
                except ValueError as e:
                    raise ValueError(f"calibration_data: the float model rejected a batch of "
                                     f"shape {x[b0:b0 + batch_size].shape} at layer {op.name} "
                                     f"({op.label}): {e}") from None
                obs[i + 1].observe(t, pass_index)
                if acts is not None:
                    acts.append(t)
            if acts is not None:
                first = acts
    return [choose_qparams(*o.range()) for o in obs], first


def _linear_weight(op, layout):
    w = op.modules[0].weight.data
    if layout[0] == "flat_nhwc":  # columns in NCHW order -> NHWC order
        c, h, wd = layout[1:]
        w = w.reshape(len(w), c, h, wd).transpose(0, 2, 3, 1).reshape(len(w), -1)
    return np.ascontiguousarray(w)


def _conv_weight(m):
    """(out, kp) float weights in im2col order (ky, kx, c), zero columns up to kp."""
    o, c, kh, kw = m.weight.data.shape
    w = m.weight.data.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)
    direct = (kh, kw) == (1, 1) and tuple(m.stride) == (1, 1) and tuple(m.padding) == (0, 0)
    kp = c if direct else -(-(kh * kw * c) // 4) * 4
    return np.ascontiguousarray(np.pad(w, ((0, 0), (0, kp - w.shape[1]))))


def _qweights(w, per_channel):
    q, s = _C.quantize_weights_s8(w, per_channel)
    return q, s


def _bias(m):
    return None if m.bias is None else m.bias.data


def _fuse_pools(stages):
    """A uint8 MaxPool2d right after a QConv2d runs inside it, on each chunk of the
    convolution's output while that is in L2 (same bits, a fraction of the memory traffic)."""
    out = []
    for s in stages:
        prev = out[-1] if out else None
        if isinstance(s, st.QMaxPool2d) and isinstance(prev, st.QConv2d) and prev.pool is None:
            fused = copy.copy(prev)
            fused.pool = [list(s.kernel_size), list(s.stride), list(s.padding)]
            fused.op_end, fused.name = s.op_end, f"{prev.name},{s.name}"
            out[-1] = fused
        else:
            out.append(s)
    return out


def _plan(ops, qp, shapes, float_set, per_channel, cache, fuse=True, lead_u8=False):
    """Stages for the ops, quantized except ``float_set``; and the status of each op. With
    ``fuse``, pooling is fused into the convolution before it (not for the per-op checks).
    ``lead_u8``: the pass ops (pooling, Flatten) before the first quantized GEMM run on uint8,
    the Quantize stage before them (the input arrives as uint8 from a graph joint)."""
    stages, status = [], {}
    dom, layout, cur = "f32", None, None

    def leads(i):
        j = i
        while j < len(ops) and ops[j].kind in _PASS and j not in float_set:
            j += 1
        return j < len(ops) and ops[j].kind in _GEMM and j not in float_set

    def runs_q(i, dom_in):
        op = ops[i]
        if op.kind not in _GEMM + _PASS or i in float_set:
            return False
        return (op.kind in _GEMM or dom_in == "u8"
                or (lead_u8 and not stages and leads(i)))

    for i, op in enumerate(ops):
        meta = {"name": op.name, "op_index": i}
        if not runs_q(i, dom):
            if dom == "u8":
                stages.append(st.Dequantize(*cur, layout))
                dom = "f32"
            stages.append(st.FloatStage(op.modules, **meta))
            status[i] = "float"
            continue
        if dom == "f32":
            nhwc = op.kind == "conv" or (op.kind != "linear" and len(shapes[i]) == 3)
            cur, layout, dom = qp[i], ["nhwc"] if nhwc else ["plain"], "u8"
            stages.append(st.Quantize(*cur, nhwc=nhwc))
        in_q, in_layout = cur, list(layout)
        out = qp[i + 1] if i + 1 < len(ops) and runs_q(i + 1, "u8") else None
        m = op.modules[0]
        if op.kind == "linear":
            key = ("linear", i, tuple(layout))
            if key not in cache:
                cache[key] = _qweights(_linear_weight(op, layout), per_channel)
            q, s = cache[key]
            stage = st.QLinear(q, s, _bias(m), *cur, *(out or (None, None)), relu=op.relu,
                               in_layout=layout, **meta)
            if out is None:
                dom = "f32"
            else:
                cur, layout = out, ["plain"]
        elif op.kind == "conv":
            if ("conv", i) not in cache:
                cache[("conv", i)] = _qweights(_conv_weight(m), per_channel)
            q, s = cache[("conv", i)]
            cur, layout = qp[i + 1], ["nhwc"]
            stage = st.QConv2d(q, s, _bias(m), *in_q, *cur, op.relu, m.kernel_size, m.stride,
                               m.padding, m.dilation, **meta)
        elif op.kind == "maxpool":
            stage = st.QMaxPool2d(m.kernel_size, m.stride, m.padding, **meta)
        elif op.kind == "gap":
            stage = st.QGlobalAvgPool2d(m.keepdim, **meta)
            layout = ["nhwc"] if m.keepdim else ["plain"]
        else:  # flatten
            if layout[0] == "nhwc":
                c, h, w = shapes[i]
                layout = ["plain"] if c == 1 or h * w == 1 else ["flat_nhwc", c, h, w]
            stage = st.QFlatten(in_layout, layout, **meta)
        # What the checks and the report need: the uint8 tensors on both sides.
        stage.in_q, stage.in_layout = in_q, in_layout
        stage.out_q = cur if dom == "u8" else None
        stage.out_layout = list(layout) if dom == "u8" else ["plain"]
        stages.append(stage)
        status[i] = "int8"
    if dom == "u8":
        stages.append(st.Dequantize(*cur, layout))
    return (_fuse_pools(stages) if fuse else stages), status


def _rel_error(y, ref):
    n = len(ref)
    d = (np.asarray(y, np.float64) - ref).reshape(n, -1)
    r = np.asarray(ref, np.float64).reshape(n, -1)
    num, den = np.sqrt((d * d).sum(1)), np.sqrt((r * r).sum(1))
    floor = max(1e-3 * float(np.median(den)), 1e-30)
    return float(np.mean(num / np.maximum(den, floor)))


def _time_pair(fa, fb, repeats):
    """Best of ``repeats`` interleaved runs of each, in seconds of this thread's CPU time (the
    caller runs them on one thread: time lost to other processes on a busy machine, which can
    make an OpenMP team wait many milliseconds, does not count)."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.thread_time()
        fa()
        ta.append(time.thread_time() - t0)
        t0 = time.thread_time()
        fb()
        tb.append(time.thread_time() - t0)
    return min(ta), min(tb)


def _records(ops, removed, status, info):
    by_pos = {}
    for r in removed:
        r = dict(r)
        by_pos.setdefault(r.pop("position"), []).append(r)
    records = []
    for i, op in enumerate(ops):
        records += by_pos.get(i, [])
        r = {"name": op.name, "type": op.label, "status": status[i],
             "reason": None if status[i] == "int8" else op.reason}
        if op.kind == "flatten":
            r["reshape"] = True
        r.update(info.get(i, {}))
        records.append(r)
    records += by_pos.get(len(ops), [])
    return records


def _positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
    return int(v)


def quantize(model, calibration_data, *, method="minmax", per_channel=True, batch_size=256,
             percentile=None, bins=None, max_error=0.1, check_speed=True, repeats=5):
    """Static post-training quantization of ``model`` (any fastnn Module) -> :class:`QuantizedModel`
    when its leaf view (``nn.graph.expand``: Sequential, Residual and Model opened) is a chain.
    See the module doc for the steps. A model that branches gives an ``nn.Model`` whose chains
    are int8 segments (fastnn/quant/graph.py).

    calibration_data: float array (N, ...) of model inputs (or a list of such batches); run
    through the float model in batches of ``batch_size``. method: 'minmax' | 'percentile'
    (``percentile``, default 99.99) | 'entropy' (KL divergence; ``bins``, default 2048).
    per_channel: one weight scale per output channel (else one per tensor). max_error: keep a
    layer in float when its relative output error exceeds this (None: never). check_speed: keep
    a layer (or the whole model) in float when int8 is slower, best of ``repeats`` timed runs on
    one calibration batch (False: deterministic result, no timing).
    """
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module, got {type(model).__name__}")
    batch_size = _positive_int(batch_size, "batch_size")
    repeats = _positive_int(repeats, "repeats")
    if max_error is not None and not (isinstance(max_error, (int, float)) and max_error > 0):
        raise ValueError(f"max_error: expected a number > 0 or None, got {max_error!r}")
    options = {"percentile": percentile, "bins": bins}
    make_observer(method, "check", **options)  # validates method and options before any work
    x = _as_batch(calibration_data)
    kw = dict(method=method, per_channel=per_channel, batch_size=batch_size, options=options,
              max_error=max_error, check_speed=check_speed, repeats=repeats)
    if _leaf_chain(model) is None:  # branches: quantized by chains (fastnn/quant/graph.py)
        folded = fold_batchnorm(as_model(model, x.shape[1:]))
        return qgraph.quantize_graph(
            folded, x, lambda chain, xin, after_joint: _quantize_chain(chain, xin, after_joint,
                                                                       **kw), batch_size)
    return _quantize_chain(model, x, False, **kw)


def _quantize_chain(model, x, after_joint, *, method, per_channel, batch_size, options,
                    max_error, check_speed, repeats):
    """``quantize`` of a chain. ``after_joint``: its input comes from a graph joint that may hand
    it over as uint8, so leading MaxPool / GlobalAvgPool / Flatten ops run on uint8 too (the
    Quantize stage goes before them, where the joint's uint8 tensor replaces it)."""
    ops, removed = _build_ops(model)
    if not any(op.kind in _GEMM for op in ops):
        raise ValueError("model: no quantizable layer (Linear, or Conv2d with groups=1) in "
                         f"{type(model).__name__}; layers: "
                         f"{[op.label for op in ops] or 'none'}")
    _check_first_layer(ops, x)
    qp, first = _calibrate(ops, x, method, batch_size, options)
    shapes = [a.shape[1:] for a in first]
    for i, op in enumerate(ops):
        want = {"linear": 1, "conv": 3, "maxpool": 3, "gap": 3}.get(op.kind)
        if want is not None and len(shapes[i]) != want:
            op.kind, op.reason = "float", f"input of shape {shapes[i]} per sample: not quantized"
    if not any(op.kind in _GEMM for op in ops):
        raise ValueError("model: no quantizable layer takes a (N, features) or (N, C, H, W) "
                         "input")

    threads = get_num_threads()
    if check_speed:  # timed on one thread (see _time_pair)
        set_num_threads(1)
    try:
        stages, status, float_set, info = _check_and_plan(ops, qp, shapes, first, per_channel,
                                                          max_error, check_speed, repeats,
                                                          after_joint)
    finally:
        set_num_threads(threads)
    for i in sorted(float_set):
        if status[i] == "float" and ops[i].kind != "flatten":
            warnings.warn(f"quantize: layer {ops[i].name} ({ops[i].label}) kept in float: "
                          f"{ops[i].reason}", QuantizationWarning, stacklevel=3)
    for i, op in enumerate(ops):
        if status[i] == "float" and op.reason is None:
            op.reason = "its input is float (no int8 neighbour)"
    return QuantizedModel(stages, _records(ops, removed, status, info), input_shape=x.shape[1:],
                          mode="static", method=method, per_channel=per_channel)


def _check_and_plan(ops, qp, shapes, first, per_channel, max_error, check_speed, repeats,
                    lead_u8=False):
    """Step 4 of the module doc: per-op error and speed checks, then the whole-model check.
    Returns (stages, status, float_set, info)."""
    cache, float_set, info = {}, set(), {}
    stages, _ = _plan(ops, qp, shapes, float_set, per_channel, cache, fuse=False, lead_u8=lead_u8)
    for s in stages:
        if not s.quantized:
            continue
        i = s.op_index
        op, xin = ops[i], first[s.op_index]
        u = st.to_u8(xin, s.in_q, s.in_layout)
        y = s.run(u)
        err = _rel_error(y if s.out_q is None else st.to_float(y, s.out_q, s.out_layout),
                         first[i + 1])
        info[i] = {"error": err}
        if max_error is not None and err > max_error:
            float_set.add(i)
            op.reason = f"output error {err:.3g} > max_error {max_error:.3g}"
            continue
        if check_speed and op.kind != "flatten":
            ws = {}  # reused output buffers, as QuantizedModel runs its stages
            tq, tf = _time_pair(lambda: s.run(u, ws), lambda: op.forward(xin), repeats)
            info[i].update(time_int8=tq, time_float=tf)
            if tq > tf:
                float_set.add(i)
                op.reason = (f"int8 slower than float ({tq * 1e3:.3f} ms vs {tf * 1e3:.3f} ms "
                             f"per batch of {len(xin)})")
    stages, status = _plan(ops, qp, shapes, float_set, per_channel, cache, lead_u8=lead_u8)

    if check_speed and any(status[i] == "int8" and op.kind in _GEMM for i, op in enumerate(ops)):
        xb, ws = first[0], {}

        def run_int8():
            t = xb
            for k, s in enumerate(stages):
                t = s.run(t, ws if k + 1 < len(stages) else None)

        def run_float():
            t = xb
            for op in ops:
                t = op.forward(t)

        tq, tf = _time_pair(run_int8, run_float, repeats)
        if tq > tf:
            why = (f"the int8 model was slower than float ({tq * 1e3:.3f} ms vs "
                   f"{tf * 1e3:.3f} ms per batch of {len(xb)})")
            warnings.warn(f"quantize: {why}; every layer kept in float", QuantizationWarning,
                          stacklevel=3)
            for i, op in enumerate(ops):
                if status[i] == "int8":
                    float_set.add(i)
                    op.reason = why
            stages, status = _plan(ops, qp, shapes, float_set, per_channel, cache, lead_u8=lead_u8)
    return stages, status, float_set, info


def quantize_dynamic(model, *, per_channel=True, input_shape=None):
    """Dynamic quantization of every Linear (+ ReLU) of ``model``: int8 weights packed now; at
    each call the input's scale and zero point come from its min/max (C++), the GEMM accumulates
    in int32 and writes float32 (bias and ReLU fused). Other layers run in float. No calibration
    data needed (MLPs). input_shape: one sample's shape, needed only for a model that branches
    and does not know its input shape (a Sequential holding a Residual)."""
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module, got {type(model).__name__}")
    if _leaf_chain(model) is None:  # branches: quantized by chains (fastnn/quant/graph.py)
        return qgraph.quantize_graph(fold_batchnorm(as_model(model, input_shape)), None,
                                     lambda chain, _, __: quantize_dynamic(
                                         chain, per_channel=per_channel),
                                     1, wanted=lambda layer: isinstance(layer, nn.Linear))
    ops, removed = _build_ops(model)
    if not any(op.kind == "linear" for op in ops):
        raise ValueError(f"model: no Linear layer to quantize dynamically in "
                         f"{type(model).__name__}; layers: {[op.label for op in ops] or 'none'}")
    stages, status = [], {}
    for i, op in enumerate(ops):
        meta = {"name": op.name, "op_index": i}
        if op.kind == "linear":
            m = op.modules[0]
            q, s = _qweights(np.ascontiguousarray(m.weight.data), per_channel)
            stages.append(st.DynamicLinear(q, s, _bias(m), op.relu, **meta))
            status[i] = "int8"
        else:
            stages.append(st.FloatStage(op.modules, **meta))
            status[i] = "float"
            op.reason = op.reason or "dynamic quantization covers Linear only"
    first = ops[0]
    input_shape = (first.modules[0].in_features,) if first.kind == "linear" else None
    return QuantizedModel(stages, _records(ops, removed, status, {}), input_shape=input_shape,
                          mode="dynamic", per_channel=per_channel)
