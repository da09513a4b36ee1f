"""Run one fuzz case and judge its outcome.

A case is a valid call with one or two arguments replaced (hostile.py). It must return normally or
raise ValueError, TypeError, MemoryError or OverflowError -- OverflowError only when a replaced
argument is a Python number (pybind11's own conversion), never because of an array; EXTRA_RAISES
lists the designed exceptions beyond these.

Messages: when only arrays were replaced, a ValueError or TypeError must name one of them (for a
replaced shape, naming the other argument it disagrees with is fair too; pybind11's "incompatible
function arguments", which lists the whole signature, names none). A message that does not is
"unclear" and fails the case unless UNCLEAR_ALLOWED lists it with its reason. When a scalar was
replaced too, the error may be the scalar's and is not attributed.
"""
import collections
import re
import warnings

from fastnn import _C

from . import hostile as H
from .core import apply, split_path

ALLOWED = (ValueError, TypeError, MemoryError, OverflowError)

# Outcome counts of this process (tests/fuzz/conftest.py writes them to $FASTNN_FUZZ_REPORT).
STATS = collections.Counter()
UNCLEAR = []

# (entry name, argument) -> why its unclear message is tolerated for now. Empty is the goal.
UNCLEAR_ALLOWED = {}

# (entry name, exception type) -> why that entry may raise a type outside ALLOWED: designed
# behaviour that a fuzz case can reach with valid-looking values.
EXTRA_RAISES = {
    ("clip_grad_norm", RuntimeError):
        "error_if_nonfinite=True and a non-finite total norm (a NaN/inf gradient, a byte-swapped "
        "one read as float32 huge values, or a norm_type whose power overflows): RuntimeError, "
        "as torch.nn.utils.clip_grad_norm_ raises",
    ("maxpool2d_backward", IndexError):
        "argmax holding an index outside the input plane: std::out_of_range -> IndexError "
        "(the error convention of csrc/bindings/module.cpp)",
}

# pybind11's overload-resolution error lists every argument of the signature: it names none.
_PYBIND_SIGNATURE = "incompatible function arguments"

_THREADS, _ISA = _C.get_num_threads(), _C.active_isa()


def _names(entry, path):
    return entry.arg(path).names


def _mentions(message, name):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", message)


def _is_array_path(entry, path):
    arg = entry.arg(path)
    return arg.kind in H.ARRAY_KINDS or (arg.kind in H.LIST_KINDS and
                                         split_path(path)[1] is not None)


def is_clear(entry, muts, exc):
    """Whether the message of `exc` (ValueError/TypeError) points at what was replaced."""
    message = str(exc)
    arrays = [(p, op) for p, op in muts if _is_array_path(entry, p)]
    others = [p for p, op in muts if not _is_array_path(entry, p)]
    if not arrays or others:
        # A replaced scalar may be the cause (act=_C.Unary.gelu: "act: expected None or an
        # activation the GEMM epilogue fuses"): the error
        # cannot be attributed, so only cases replacing arrays alone are held to naming them.
        return True
    if _PYBIND_SIGNATURE in message:
        return False
    wanted = [n for p in [p for p, _ in muts] for n in _names(entry, p)]
    if any(op.partition(":")[0] in H.SHAPE_OPS for _, op in arrays):
        # a shape that disagrees with another argument may be reported on that one
        wanted += [n for a in entry.args for n in a.names]
    return any(_mentions(message, n) for n in wanted)


def describe(entry, muts):
    return f"{entry.name}(" + ", ".join(f"{p} <- {op}" for p, op in muts) + ")"


def run_case(entry, muts):
    """Build the valid call, apply the mutations, call, judge; raises AssertionError on a
    violation (its message says which case and why)."""
    call = entry.build()
    for path, op in muts:
        apply(entry, call, path, op)
    STATS["cases"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except ALLOWED as exc:
        STATS[type(exc).__name__] += 1
        _judge(entry, muts, exc)
    except Exception as exc:  # noqa: BLE001 -- any other type is the finding
        if (entry.name, type(exc)) in EXTRA_RAISES:
            STATS["designed:" + type(exc).__name__] += 1
            return
        STATS["other:" + type(exc).__name__] += 1
        raise AssertionError(f"{describe(entry, muts)} raised {type(exc).__name__}: {exc}") \
            from exc
    else:
        STATS["returned"] += 1
    finally:
        if _C.get_num_threads() != _THREADS:
            _C.set_num_threads(_THREADS)
        if _C.active_isa() != _ISA:
            _C.set_isa(_ISA)


def _judge(entry, muts, exc):
    if isinstance(exc, OverflowError):
        assert any(not _is_array_path(entry, p) for p, _ in muts), \
            f"{describe(entry, muts)} raised OverflowError from an array argument: {exc}"
        return
    if isinstance(exc, MemoryError) or is_clear(entry, muts, exc):
        return
    STATS["unclear"] += 1
    UNCLEAR.append((describe(entry, muts), type(exc).__name__, str(exc)[:300]))
    keys = {(entry.name, split_path(p)[0]) for p, _ in muts if _is_array_path(entry, p)}
    assert keys & UNCLEAR_ALLOWED.keys(), (
        f"{describe(entry, muts)} raised {type(exc).__name__} whose message names none of the "
        f"replaced arguments: {str(exc)[:300]!r}")
