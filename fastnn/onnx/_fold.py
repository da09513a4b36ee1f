"""Constant folding for ONNX import: numpy evaluations of the shape-computing operators whose
inputs are all constants. A shape read from a graph tensor (``Shape``) holds ``None`` for the
free batch dimension (an object array), so ``x.view(x.size(0), -1)`` folds to ``[None, -1]``."""
import numpy as np


class Unsupported(Exception):
    """A node fastnn cannot convert; the reason is collected and reported with the others."""


def _axes(node, args, attrs, opset, k=1):
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(args) > k and args[k] is not None:
        return [int(a) for a in np.asarray(args[k]).ravel()]
    return None


def _ints(v, what):
    v = np.asarray(v)
    if v.dtype == object and any(e is None for e in v.ravel()):
        raise Unsupported(f"{what} depends on the batch size")
    return v.astype(np.int64)


def _arith(op):
    def f(node, args, attrs, opset):
        a, b = args[0], args[1]
        if np.asarray(a).dtype == object or np.asarray(b).dtype == object:
            if op == "Mul" and (np.size(a) == 1 or np.size(b) == 1):
                pass  # None * k stays unknown below
            raise Unsupported(f"{op} of a shape that holds the batch size")
        if op == "Add":
            return a + b
        if op == "Sub":
            return a - b
        if op == "Mul":
            return a * b
        if np.asarray(a).dtype.kind in "iu":
            return (np.trunc(a / b)).astype(np.asarray(a).dtype)
        return a / b
    return f


def _shape(node, args, attrs, opset):
    s = args[0]
    start, end = attrs.get("start", 0), attrs.get("end")
    return np.array(list(s)[start:end], dtype=object if None in list(s) else np.int64)


def _gather(node, args, attrs, opset):
    return np.take(args[0], _ints(args[1], "Gather indices"), axis=attrs.get("axis", 0))


def _unsqueeze(node, args, attrs, opset):
    x = np.asarray(args[0])
    axes = _axes(node, args, attrs, opset)
    nd = x.ndim + len(axes)
    for a in sorted(a % nd for a in axes):
        x = np.expand_dims(x, a)
    return x


def _squeeze(node, args, attrs, opset):
    x = np.asarray(args[0])
    axes = _axes(node, args, attrs, opset)
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, tuple(a % x.ndim for a in axes))


def _concat(node, args, attrs, opset):
    arrs = [np.asarray(a) for a in args if a is not None]
    if any(a.dtype == object for a in arrs):
        arrs = [a.astype(object) for a in arrs]
    return np.concatenate(arrs, axis=attrs.get("axis", 0))


def reshape_target(shape, in_shape, allowzero=0):
    """The target shape with ONNX's 0 (copy the input's dimension) resolved."""
    out = []
    for i, d in enumerate(list(shape)):
        if d is not None and int(d) == 0 and not allowzero:
            d = in_shape[i]
        out.append(None if d is None else int(d))
    return out


def _reshape(node, args, attrs, opset):
    x = np.asarray(args[0])
    target = reshape_target(_ints(args[1], "Reshape shape"), x.shape, attrs.get("allowzero", 0))
    return x.reshape(target)


def _constant_of_shape(node, args, attrs, opset):
    v = attrs.get("value")
    fill = np.zeros(1, np.float32) if v is None else v
    return np.full(tuple(_ints(args[0], "ConstantOfShape shape")), fill.ravel()[0], fill.dtype)


def _cast(node, args, attrs, opset):
    from onnx import helper
    x = np.asarray(args[0])
    if x.dtype == object:
        return x
    return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _slice(node, args, attrs, opset):
    x = np.asarray(args[0])
    if opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes"), None
    else:
        starts, ends = _ints(args[1], "Slice starts"), _ints(args[2], "Slice ends")
        axes = _ints(args[3], "Slice axes") if len(args) > 3 and args[3] is not None else None
        steps = _ints(args[4], "Slice steps") if len(args) > 4 and args[4] is not None else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else list(steps)
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        idx[int(a)] = slice(int(s), int(max(min(e, 2 ** 62), -2 ** 62)), int(st))
    return x[tuple(idx)]


def _constant(node, args, attrs, opset):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            v = np.asarray(attrs[key])
            return v.astype(np.float32) if key.startswith("value_f") else (
                v.astype(np.int64) if key.startswith("value_i") else v)
    raise Unsupported("Constant without a value/value_float(s)/value_int(s) attribute")


FOLD = {
    "Constant": _constant, "ConstantOfShape": _constant_of_shape, "Shape": _shape,
    "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Concat": _concat,
    "Reshape": _reshape, "Cast": _cast, "Slice": _slice,
    "Add": _arith("Add"), "Sub": _arith("Sub"), "Mul": _arith("Mul"), "Div": _arith("Div"),
    "Identity": lambda node, args, attrs, opset: args[0],
    "Transpose": lambda node, args, attrs, opset: np.transpose(args[0], attrs.get("perm")),
    "Flatten": lambda node, args, attrs, opset: np.asarray(args[0]).reshape(
        int(np.prod(np.shape(args[0])[:attrs.get("axis", 1)])), -1),
    "Sqrt": lambda node, args, attrs, opset: np.sqrt(args[0]),
    "Reciprocal": lambda node, args, attrs, opset: np.reciprocal(args[0]),
    "Neg": lambda node, args, attrs, opset: np.negative(args[0]),
}
