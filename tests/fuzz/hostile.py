"""The hostile values of the fuzz suite, as named mutations of a valid call.

A mutation is a pair (path, op): `path` names an argument of the call ("x") or one element of a
list argument ("grads[0]", "stride[1]"); `op` is a short string naming what replaces it
("dtype:complex64", "strided", "int:-1", "alias:x", ...). Naming them (instead of drawing raw
objects) keeps hypothesis' falsifying examples readable and lets tests/fuzz/test_fuzz.py sweep
every single mutation deterministically.

Sizes: every array built here is at most a few times the valid argument, except the huge broadcast
view (2**40 float32 elements through a 0-stride view: no memory until something copies it, and a
contiguous copy cannot be allocated). Integer arguments that size an allocation directly are of
kind "size" and never receive the huge-but-valid values (2**31, 2**32 + 1): such a call would be a
valid, multi-gigabyte request.
"""
import numpy as np

# ---------------------------------------------------------------------------- argument kinds --
# array   an input array (any layout should be accepted or refused cleanly)
# out     an array the call writes or updates in place (also read-only / aliasing variants)
# arrays  a list of input arrays; outs: a list of arrays updated in place (elements get the
#         array / out ops via paths "name[i]")
# int, size, float, bool, str        Python scalars (size: an int that sizes an allocation)
# ints    a fixed-length sequence of ints (stride, padding, kernel, input_shape ...)
# floats  a fixed-length sequence of floats (an optimizer group's hyper-parameters)
# obj     an opaque _C object (PackedWeightsS8, SparseMatrix)
# any     anything else (only the generic values)
ARRAY_KINDS = ("array", "out")
LIST_KINDS = ("arrays", "outs")

HUGE = 2 ** 40  # elements of the broadcast view: 4 TiB as a contiguous float32 copy
ALIAS_MAX_BYTES = 1 << 20

DTYPES = ("float32", "float64", "float16", "int8", "uint8", "int32", "int64", "complex64",
          "bool", "object", "datetime64", ">f4", "swapped")

# Ops that change an array's shape: the call may fairly blame the mismatch on another array.
SHAPE_OPS = ("zerod", "empty", "empty_last", "flat", "addaxis", "dropaxis", "grow", "shrink",
             "huge", "list", "scalar", "matrix", "int", "float")

GENERIC = ("None", "str", "bytes", "dict", "object", "int:-1", "float:nan")
INTS = ("int:2**31", "int:2**32+1", "int:2**63-1", "int:-1", "int:-2**63", "int:0",
        "int:2**64", "float:1.5", "float:nan", "True", "numpy:int64(-1)", "str", "None")
SIZES = ("int:-1", "int:-2**63", "int:2**63-1", "int:0", "int:2**64", "float:1.5", "str",
         "None")
FLOATS = ("float:nan", "float:inf", "float:-inf", "float:-1.0", "float:0.0", "float:1e38",
          "float:1e300", "float:-1e300", "float:5e-324", "int:2**63", "int:2**1100", "str",
          "None", "complex", "numpy:float64(nan)")
BOOLS = ("None", "int:2", "str", "float:1.5", "numpy:bool_(True)", "list")
STRS = ("str:", "str:bogus", "str:nul", "str:accents", "str:long", "str:surrogate", "int:5",
        "bytes", "None")
OBJS = ("None", "int:5", "str", "numpy:zeros3", "other_obj")
SEQ_OPS = ("len-1", "len+1", "scalar_seq", "None", "str", "tuple_of_str")
LIST_OPS = ("None", "str", "tuple", "empty_list", "ndarray", "duplicate", "generator")

_SCALARS = {
    "int:2**31": 2 ** 31, "int:2**32+1": 2 ** 32 + 1, "int:2**63-1": 2 ** 63 - 1,
    "int:-1": -1, "int:-2**63": -2 ** 63, "int:0": 0, "int:2**64": 2 ** 64, "int:2": 2,
    "int:5": 5, "int:2**63": 2 ** 63, "int:2**1100": 2 ** 1100,
    "float:1.5": 1.5, "float:nan": float("nan"), "float:inf": float("inf"),
    "float:-inf": float("-inf"), "float:-1.0": -1.0, "float:0.0": 0.0, "float:1e38": 1e38,
    "float:1e300": 1e300, "float:-1e300": -1e300, "float:5e-324": 5e-324,
    "True": True, "None": None, "str": "hostile", "bytes": b"\xff\x00", "complex": 1 + 2j,
    "str:": "", "str:bogus": "bogus", "str:nul": "mean\x00", "str:accents": "moyenne-\u00e9\u00e8",
    "str:long": "x" * 5000, "str:surrogate": "\ud800",
}


def scalar_value(op):
    """The Python / numpy value an op names (scalars and generic values)."""
    if op in _SCALARS:
        return _SCALARS[op]
    if op == "dict":
        return {"a": 1}
    if op == "object":
        return object()
    if op == "list":
        return [1, 2]
    if op == "numpy:int64(-1)":
        return np.int64(-1)
    if op == "numpy:float64(nan)":
        return np.float64("nan")
    if op == "numpy:bool_(True)":
        return np.bool_(True)
    if op == "numpy:zeros3":
        return np.zeros(3, np.float32)
    raise KeyError(op)


# ------------------------------------------------------------------------------ array ops --
def array_ops(value, kind, others):
    """Every op for an array argument `value` (kind array/out); `others`: paths of the call's
    other array arguments (aliasing targets of an out argument)."""
    ops = ["dtype:" + d for d in DTYPES]
    ops += ["strided", "negstride", "fortran", "misaligned", "zerod", "empty", "empty_last",
            "flat", "addaxis", "dropaxis", "huge", "readonly", "list", "scalar", "matrix"]
    nd = np.ndim(value)
    ops += [f"grow:{d}" for d in range(min(nd, 4))] + [f"shrink:{d}" for d in range(min(nd, 4))]
    if np.asarray(value).dtype.kind == "f":
        ops += ["value:nan", "value:inf"]
    else:
        ops += ["value:-1", "value:max"]
    if kind == "out":
        ops += ["alias:" + o for o in others]
    return ops + list(GENERIC)


def _with_dtype(v, name):
    if name == "datetime64":
        return v.astype(np.int64).astype("datetime64[s]")
    if name == "swapped":
        return v.astype(v.dtype.newbyteorder(">" if v.dtype.byteorder in "=<|" else "<"))
    if name == "object":
        return v.astype(object)
    return v.astype(name)


def _first(v):
    return v.reshape(-1)[0] if v.size else np.zeros((), v.dtype)[()]


def mutate_array(v, op):
    """The array (or other value) `op` makes of the valid array `v` (never aliases `v`)."""
    v = np.asarray(v)
    name, _, arg = op.partition(":")
    if name == "dtype":
        return _with_dtype(v, arg)
    if op == "strided":  # every other element of a twice-as-wide buffer, along the last axis
        if v.ndim == 0:
            return v.copy()
        big = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype)
        big[..., ::2] = v
        return big[..., ::2]
    if op == "negstride":  # the same values, read through a negative stride on axis 0
        return v.copy() if v.ndim == 0 else v[::-1].copy()[::-1]
    if op == "fortran":
        return np.asfortranarray(v) if v.ndim >= 2 else v.copy()
    if op == "misaligned":  # np.frombuffer(buf, dtype, offset=1): data one byte off alignment
        buf = bytearray(v.nbytes + 1)
        a = np.frombuffer(buf, v.dtype, count=v.size, offset=1).reshape(v.shape)
        a[...] = v
        return a
    if op == "zerod":
        return np.asarray(_first(v), v.dtype)
    if op == "empty":
        return np.zeros((0,) + v.shape[1:], v.dtype)
    if op == "empty_last":
        return np.zeros(v.shape[:-1] + (0,), v.dtype) if v.ndim else np.zeros(0, v.dtype)
    if op == "flat":
        return v.reshape(-1).copy()
    if op == "addaxis":
        return v[None].copy()
    if op == "dropaxis":
        return v[0].copy() if v.ndim and v.shape[0] else v.reshape(v.shape[1:] if v.ndim else ())
    if op == "matrix":  # two rows of the flattened values: 2-D whatever the valid ndim
        return np.stack([v.reshape(-1), v.reshape(-1)])
    if name in ("grow", "shrink"):
        ax = int(arg)
        if name == "grow":
            pad = [(0, 0)] * v.ndim
            pad[ax] = (0, 1)
            return np.pad(v, pad, mode="edge" if v.shape[ax] else "constant")
        return np.take(v, np.arange(max(v.shape[ax] - 1, 0)), axis=ax)
    if op == "huge":  # the brief's view: np.broadcast_to(np.float32(.5), (2**40,)), v's dtype
        return np.broadcast_to(np.asarray(_first(v), v.dtype), (HUGE,))
    if op == "readonly":
        a = v.copy()
        a.setflags(write=False)
        return a
    if op == "list":
        return v.tolist()
    if op == "scalar":
        return _first(v).item()
    if name == "value":
        a = v.copy()
        if a.size:
            if arg == "nan":
                a.reshape(-1)[0] = np.nan
            elif arg == "inf":
                a.reshape(-1)[-1] = np.inf
            elif arg == "-1":
                a.reshape(-1)[0] = -1 if a.dtype.kind != "u" else np.iinfo(a.dtype).max
            else:
                a.reshape(-1)[-1] = np.iinfo(a.dtype).max if a.dtype.kind in "iu" else 1
        return a
    return scalar_value(op)


def alias(out, src):
    """(out', src'): two arrays over one buffer, src' holding src's values, out' out's shape and
    dtype (both start at the same byte), so the call's output overlaps that input."""
    out, src = np.asarray(out), np.asarray(src)
    if (out.size == 0 or src.size == 0 or src.dtype.kind == "O" or out.dtype.kind == "O"
            or max(out.nbytes, src.nbytes) > ALIAS_MAX_BYTES):  # (src: the huge view)
        return out, src
    buf = np.zeros(max(out.nbytes, src.nbytes), np.uint8)
    o = buf[:out.nbytes].view(out.dtype).reshape(out.shape)
    s = buf[:src.nbytes].view(src.dtype).reshape(src.shape)
    s[...] = src
    return o, s


# ----------------------------------------------------------------------- sequence and list ops --
def seq_ops(length, elem_ops):
    """Ops of a fixed-length sequence of scalars: its length, its type, and each element."""
    ops = list(SEQ_OPS)
    for i in range(length):
        ops += [f"elem{i}={e}" for e in elem_ops]
    return ops


def mutate_seq(v, op):
    v = list(v)
    if op == "len-1":
        return v[:-1]
    if op == "len+1":
        return v + v[-1:] if v else [1]
    if op == "scalar_seq":
        return v[0] if v else 1
    if op == "tuple_of_str":
        return tuple("a" for _ in v)
    if op.startswith("elem"):
        idx, _, e = op[4:].partition("=")
        v[int(idx)] = scalar_value(e)
        return v
    return scalar_value(op)


def mutate_list(v, op):
    """Ops of a list of arrays as a whole (elements are mutated through their paths)."""
    v = list(v)
    if op == "tuple":
        return tuple(v)
    if op == "empty_list":
        return []
    if op == "ndarray":  # an ndarray is a sequence too: its rows become the elements
        return np.zeros((len(v), 3), np.float32)
    if op == "duplicate":  # the same array twice: an update would read what it wrote
        return v[:1] * len(v) if len(v) > 1 else v * 2
    if op == "generator":
        return (a for a in v)
    return scalar_value(op)
