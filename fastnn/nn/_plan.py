"""The compiled inference plan: a container's eval-mode forward under ``no_grad`` as one C++ call.

``run(container, xs)`` is called by the executor (nn/_exec.py ``run_forward``) for the outermost
container of a call in inference (grad mode off, every layer in eval mode). It returns the
outputs, or None when the model holds a layer the plan does not cover (then the layers run one
by one in Python, as before). The plan (``fastnn._C.InferencePlan``, csrc/frame/plan.cpp) is
built once per model structure and per-sample input shape and kept on the container:

* Every op borrows the live weight arrays (no copies): in-place changes of ``p.data`` (an
  optimizer step, ``p.data[...] = v``, ``load_state_dict``) are seen by the next call. A batch
  norm after a conv or linear layer runs (the layer's own C++ function) on the same chunk from
  its live statistics, so nothing folded can go stale.
* The plan is rebuilt when the structure it was built from changes: another input shape, a
  layer switched to training mode, a ``Parameter.data``/``mask``/buffer array replaced by another
  array, or a layer added, removed or replaced in a container. Each call compares the input
  shapes and the structure epoch (nn/module.py ``_epoch``, bumped by every attribute assignment
  of a module or parameter, buffer registration and mode change): O(1) while nothing changed;
  after a bump the structure and the identity of every borrowed array are compared (no data is
  read) and the plan is rebuilt only if they differ.
* Fused: BatchNorm after Conv2d/Linear, an activation after any op, a ``Residual`` join's add.
  Flatten, Reshape, Dropout (eval) and Identity are views: no op.

``FASTNN_PLAN=0`` (or ``fastnn.nn.set_inference_plan(False)``) turns plans off;
``fastnn.nn.inference_profile`` times their ops.
"""
import os

import numpy as np

from fastnn import _C
from fastnn.nn import module as _module

_enabled = [os.environ.get("FASTNN_PLAN", "1") != "0"]
_NO_PLAN = "no plan"  # cached marker: this structure has a layer the plan does not cover


def set_inference_plan(on):
    """Turn the compiled inference plan on or off (process-wide); returns the previous setting."""
    prev = _enabled[0]
    _enabled[0] = bool(on)
    return prev


class _Unsupported(Exception):
    pass


def _struct_key(container):
    """What a plan depends on besides the input shape and the borrowed arrays: the leaf view
    (every layer's identity and wiring); (None, None) when a module is in training mode (a
    Residual's join is no registered module and has no mode)."""
    from fastnn.nn.graph import expand
    if any(m._training for m in container.modules()):
        return None, None
    n_in, nodes, outs = expand(container)
    key = [n_in, tuple(outs)]
    for _, layer, ins, o in nodes:
        key.append((id(layer), tuple(ins), tuple(o), _hyper(layer)))
    return tuple(key), (n_in, nodes, outs)


_SCALARS = (bool, int, float, str, tuple, type(None))


def _hyper(layer):
    """A layer's hyper-parameters (its public scalar and tuple attributes: eps, stride, dim, ...),
    part of the structure key: changing one rebuilds the plan."""
    return tuple(sorted((k, v) for k, v in layer.__dict__.items()
                        if not k.startswith("_") and isinstance(v, _SCALARS)))


def _arrays_of(layer):
    out = []
    for p in layer._parameters.values():
        if p is not None:
            out.append(p.data)
            if p.mask is not None:
                out.append(p.mask)
    for b in layer._buffers.values():
        if b is not None:
            out.append(b)
    return out


def run(container, xs):
    """The container's outputs computed by its plan, or None (no plan covers it)."""
    if not _enabled[0]:
        return None
    shapes = []
    for x in xs:
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim >= 2
                and x.shape[0]):
            return None
        shapes.append(x.shape[1:])
    shapes = tuple(shapes)
    cache = container.__dict__.get("_plan_cache")
    epoch = _module._epoch[0]
    if cache is None or cache[0] != epoch or cache[1] != shapes:
        cache = _refresh(container, cache, shapes, epoch, xs)
        if cache is None:
            return None
    plan = cache[4]
    if plan is _NO_PLAN:
        return None
    for p in cache[6]:  # [prune] as each layer's forward: pruned weights re-masked in place
        _C.mask_apply(p.data, p.mask)
    ys = plan.run(list(xs))
    return tuple(y.reshape((y.shape[0],) + s) for y, s in zip(ys, cache[5]))


def _refresh(container, cache, shapes, epoch, xs):
    """The cache entry valid at ``epoch``: the old plan when the structure, the borrowed arrays
    and the input shapes are those it was built for (a bump elsewhere), else a new one; None when
    a module is in training mode."""
    key, view = _struct_key(container)
    if key is None:  # a layer in training mode
        return None
    layers = [layer for _, layer, _, _ in view[1]]
    arrays = [a for layer in layers for a in _arrays_of(layer)]
    if (cache is not None and cache[2] == key and cache[1] == shapes
            and len(cache[3]) == len(arrays) and all(a is b for a, b in zip(cache[3], arrays))):
        cache = (epoch,) + cache[1:]
    else:
        try:
            plan, out_shapes = _build(view, xs)
        except _Unsupported:
            plan, out_shapes = _NO_PLAN, None
        masked = [p for layer in layers for p in layer._parameters.values()
                  if p is not None and p.mask is not None]
        cache = (epoch, shapes, key, arrays, plan, out_shapes, masked)
    object.__setattr__(container, "_plan_cache", cache)
    return cache


def profile(model, *xs, rounds=10):
    """Per-op time of ``model``'s plan on inputs ``xs``: a list of (label, milliseconds per call)
    -- each op's thread-seconds over ``rounds`` calls (after one warm-up) divided by the calls
    and the thread count -- or None when no plan covers the model. A label names the node paths
    and layer types fused into the op ("0 Conv2d + 1 BatchNorm2d + 2 ReLU")."""
    from fastnn import no_grad, get_num_threads
    with no_grad():
        model(*xs)
        cache = model.__dict__.get("_plan_cache")
        if cache is None or cache[4] is _NO_PLAN:
            return None
        plan = cache[4]
        plan.set_profiling(True)
        try:
            for _ in range(rounds):
                model(*xs)
            secs = plan.op_seconds()
        finally:
            plan.set_profiling(False)
    nt = get_num_threads()
    return [(label, 1e3 * t / rounds / nt) for label, t in zip(plan.labels, secs)]


def _act(layer):
    from fastnn.nn.activation import _Elementwise
    if isinstance(layer, _Elementwise):
        return (layer._code, float(layer._param), float(layer._param2))
    return None


def _bn_tuple(bn):
    return (None if bn.weight is None else bn.weight.data,
            None if bn.bias is None else bn.bias.data, bn.running_mean, bn.running_var, bn.eps)


def _build(view, xs):
    """Walk the leaf view once on the first sample (shapes of every value), then emit the ops."""
    from fastnn.nn import activation, batchnorm, conv, dropout, linear, merge, pooling, reshape
    n_in, nodes, outs = view
    # Shapes: run the layers in Python on one sample (their own checks see the real input).
    vals = [x[:1] for x in xs] + [None] * sum(len(o) for _, _, _, o in nodes)
    for _, layer, ins, o in nodes:
        y = layer.forward(*[vals[s] for s in ins])
        ys = y if isinstance(y, tuple) else (y,)
        if len(ys) != len(o):
            raise _Unsupported
        for s, v in zip(o, ys):
            if not isinstance(v, np.ndarray) or v.ndim < 1 or v.shape[0] != 1:
                raise _Unsupported  # not a batch-first output (unbatched input, a reduction)
            vals[s] = v
        for a in [vals[s] for s in ins]:
            if not isinstance(a, np.ndarray) or a.ndim < 2 or a.shape[0] != 1:
                raise _Unsupported
    shape = [None if v is None else v.shape[1:] for v in vals]
    uses = [0] * len(vals)
    for _, _, ins, _ in nodes:
        for s in ins:
            uses[s] += 1
    for s in outs:
        uses[s] += 1

    alias = list(range(len(vals)))  # value slot -> the slot holding its data
    ops = []                         # dicts, emitted at the end
    producer = {}                    # data slot -> index in ops

    def fusable(s, kinds):
        """The op that produced data slot s, if s has no other reader and is not an output."""
        i = producer.get(s)
        if i is None or uses[s] != 1 or s in outs:
            return None
        return ops[i] if ops[i]["kind"] in kinds else None

    for path, layer, ins, o in nodes:
        src = [alias[s] for s in ins]
        out = o[0]
        t = type(layer)
        label = f"{path or '(join)'} {t.__name__}"
        if isinstance(layer, (dropout.Dropout, merge.Identity, linear.Flatten, reshape.Reshape)):
            alias[out] = src[0]
            uses[src[0]] += uses[out] - 1
            continue
        act = _act(layer)
        if act is not None:
            prev = fusable(src[0], ("conv2d", "linear", "pool2d", "global_avgpool", "batchnorm",
                                    "add", "concat"))
            if prev is not None and prev["act"] is None:
                prev["act"] = act
                prev["label"] += f" + {label}"
                alias[out] = src[0]
                uses[src[0]] += uses[out] - 1
                continue
            op = dict(kind="unary", inp=src[0], act=act)
        elif isinstance(layer, batchnorm._BatchNorm) and t in (batchnorm.BatchNorm1d,
                                                              batchnorm.BatchNorm2d):
            if layer.running_mean is None or len(shape[ins[0]]) not in (1, 3):
                raise _Unsupported
            prev = fusable(src[0], ("conv2d", "linear"))
            if prev is not None and prev["act"] is None and prev["bn"] is None:
                prev["bn"] = _bn_tuple(layer)
                prev["label"] += f" + {label}"
                alias[out] = src[0]
                uses[src[0]] += uses[out] - 1
                continue
            sh = shape[ins[0]]
            op = dict(kind="batchnorm", inp=src[0], channels=sh[0],
                      inner=int(np.prod(sh[1:], dtype=np.int64)), bn=_bn_tuple(layer), act=None)
        elif t is conv.Conv2d:
            if len(shape[ins[0]]) != 3:
                raise _Unsupported
            op = dict(kind="conv2d", inp=src[0], weight=layer.weight.data,
                      bias=None if layer.bias is None else layer.bias.data,
                      chw=tuple(shape[ins[0]]), stride=layer.stride, padding=layer.padding,
                      dilation=layer.dilation, groups=layer.groups,
                      algorithm="bf16" if layer.precision == "bf16" else layer.algorithm,
                      bn=None, act=None)
        elif t is linear.Linear:
            if len(shape[ins[0]]) != 1:
                raise _Unsupported
            op = dict(kind="linear", inp=src[0], weight=layer.weight.data,
                      bias=None if layer.bias is None else layer.bias.data, bn=None, act=None,
                      bf16=layer.precision == "bf16")
        elif t in (pooling.MaxPool2d, pooling.AvgPool2d):
            if len(shape[ins[0]]) != 3:
                raise _Unsupported
            is_max = t is pooling.MaxPool2d
            op = dict(kind="pool2d", inp=src[0], is_max=is_max, chw=tuple(shape[ins[0]]),
                      kernel=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                      dilation=layer.dilation, ceil_mode=layer.ceil_mode,
                      count_include_pad=bool(getattr(layer, "count_include_pad", True)), act=None)
        elif isinstance(layer, pooling.GlobalAvgPool2d):
            sh = shape[ins[0]]
            if len(sh) != 3:
                raise _Unsupported
            op = dict(kind="global_avgpool", inp=src[0], channels=sh[0], inner=sh[1] * sh[2],
                      act=None)
        elif t in (merge.Add, merge.ResidualAdd) and len(ins) == 2:
            if shape[ins[0]] != shape[ins[1]]:
                raise _Unsupported  # broadcasting: the Python layer
            op = dict(kind="add", a=src[0], b=src[1], act=None)
        elif t is merge.Concat:
            nd = len(shape[ins[0]]) + 1
            d = layer.dim + nd if layer.dim < 0 else layer.dim
            if d != 1:
                raise _Unsupported
            op = dict(kind="concat", inputs=src, act=None)
        elif t in (activation.Softmax, activation.LogSoftmax):
            sh = shape[ins[0]]
            d = layer.dim + len(sh) + 1 if layer.dim < 0 else layer.dim
            if d != 1:
                raise _Unsupported
            op = dict(kind="softmax", inp=src[0], dim=sh[0],
                      inner=int(np.prod(sh[1:], dtype=np.int64)),
                      log=t is activation.LogSoftmax)
        else:
            raise _Unsupported
        if len(o) != 1:
            raise _Unsupported
        op["out"] = out
        op["label"] = label
        producer[out] = len(ops)
        ops.append(op)

    data_outs = [alias[s] for s in outs]
    in_slots = list(range(n_in))
    if len(set(data_outs)) != len(data_outs) or any(s in in_slots for s in data_outs):
        raise _Unsupported  # an output that is an input or another output: the Python path
    # Compact the data slots used into plan slots.
    used = sorted(set(in_slots) | {op["out"] for op in ops})
    index = {s: i for i, s in enumerate(used)}
    sizes = [int(np.prod(shape[s], dtype=np.int64)) for s in used]
    plan = _C.InferencePlan(sizes, [index[s] for s in in_slots], [index[s] for s in data_outs])
    for op in ops:
        k, out = op["kind"], index[op["out"]]
        if k == "conv2d":
            plan.conv2d(index[op["inp"]], out, op["weight"], op["bias"], op["chw"], op["stride"],
                        op["padding"], op["dilation"], op["groups"], op["algorithm"], op["bn"],
                        op["act"])
        elif k == "linear":
            plan.linear(index[op["inp"]], out, op["weight"], op["bias"], op["bn"], op["act"],
                        op["bf16"])
        elif k == "pool2d":
            plan.pool2d(index[op["inp"]], out, op["is_max"], op["chw"], op["kernel"],
                        op["stride"], op["padding"], op["dilation"], op["ceil_mode"],
                        op["count_include_pad"], op["act"])
        elif k == "global_avgpool":
            plan.global_avgpool(index[op["inp"]], out, op["channels"], op["inner"], op["act"])
        elif k == "batchnorm":
            plan.batchnorm(index[op["inp"]], out, op["channels"], op["inner"], op["bn"],
                           op["act"])
        elif k == "unary":
            plan.unary(index[op["inp"]], out, op["act"])
        elif k == "add":
            plan.add(index[op["a"]], index[op["b"]], out, op["act"])
        elif k == "concat":
            plan.concat([index[s] for s in op["inputs"]], out, op["act"])
        elif k == "softmax":
            plan.softmax(index[op["inp"]], out, op["dim"], op["inner"], op["log"])
    plan.labels = [op["label"] for op in ops]
    return plan, [shape[s] for s in outs]
