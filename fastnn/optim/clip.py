"""Gradient clipping over many parameters, in C++ (fastnn._C.clip_grad_norm / clip_grad_value)."""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.module import Parameter


def _grads(params, fn):
    if isinstance(params, Parameter):
        params = [params]
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"{fn}: parameters: expected a Parameter or an iterable of Parameters, "
                        f"got {type(params).__name__}") from None
    grads = []
    for i, p in enumerate(items):
        if not isinstance(p, Parameter):
            raise TypeError(f"{fn}: parameters[{i}]: expected fastnn.nn.Parameter, got "
                            f"{type(p).__name__}")
        if p.requires_grad and p.grad is not None:  # frozen parameters are skipped
            grads.append(p.grad)
    return grads


def _real(v, name, fn):
    if not isinstance(v, numbers.Real) or isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name}: expected a real number, got {v!r}")
    return float(v)


def _norm_type(norm_type, fn):
    if isinstance(norm_type, str) and norm_type.lower() in ("inf", "infinity"):
        return math.inf
    return _real(norm_type, "norm_type", fn)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so their total norm is at most ``max_norm``, as
    torch.nn.utils.clip_grad_norm_: total = ||(||g_1||, ..., ||g_n||)||_p over the trainable
    parameters' gradients; if max_norm / (total + 1e-6) < 1, every gradient is multiplied by it.
    Returns the total norm before clipping (a float). ``norm_type``: any p > 0 or ``inf``.
    Two C++ passes (reduce, then scale); the reduction order is fixed, so the result does not
    depend on the thread count."""
    fn = "clip_grad_norm_"
    grads = _grads(parameters, fn)
    max_norm = _real(max_norm, "max_norm", fn)
    norm_type = _norm_type(norm_type, fn)
    return _C.clip_grad_norm(grads, max_norm, norm_type, bool(error_if_nonfinite))


def grad_norm(parameters, norm_type=2.0):
    """The total gradient norm that ``clip_grad_norm_`` would clip (nothing is changed)."""
    fn = "grad_norm"
    grads = _grads(parameters, fn)
    norm_type = _norm_type(norm_type, fn)
    return _C.grad_norm(grads, norm_type)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element of the trainable parameters to [-clip_value, clip_value]
    (torch.nn.utils.clip_grad_value_), in place, in C++."""
    fn = "clip_grad_value_"
    grads = _grads(parameters, fn)
    clip_value = _real(clip_value, "clip_value", fn)
    _C.clip_grad_value(grads, clip_value)
