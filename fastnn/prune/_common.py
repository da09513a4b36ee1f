"""Shared helpers of fastnn.prune: which layers are prunable, argument checks, mask checks.

Every public function validates all of its arguments (and the model's existing masks) before it
changes anything, so a failed call leaves the model as it was.
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.conv import Conv2d
from fastnn.nn.linear import Linear
from fastnn.nn.module import Module

# The layers whose weights pruning touches.
PRUNABLE = (Linear, Conv2d)


def display(name):
    return repr(name) if name else "<model>"


def check_model(model, where):
    if not isinstance(model, Module):
        raise TypeError(f"{where}: model: expected a fastnn.nn.Module, got {type(model).__name__}")


def check_fraction(value, name, where, *, upper_inclusive=False):
    """A real number in [0, 1) (or [0, 1] with upper_inclusive), as float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name}: expected a float in [0, 1), got {value!r}")
    v = float(value)
    ok = 0.0 <= v <= 1.0 if upper_inclusive else 0.0 <= v < 1.0
    if not ok:
        rng = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"{where}: {name}: expected a value in {rng}, got {value!r}")
    return v


def check_choice(value, name, choices, where):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{where}: {name}: expected one of {list(choices)}, got {value!r}")
    return value


def resolve_layers(model, layers, where):
    """[(name, layer)] of the prunable layers named by ``layers`` (None: all of the model's, in
    definition order). ``layers`` holds names as in ``model.named_modules()`` or the layer objects."""
    types = PRUNABLE
    kinds = " or ".join(t.__name__ for t in types)
    named, seen = [], set()
    for n, m in model.named_modules():
        if id(m) not in seen:
            seen.add(id(m))
            named.append((n, m))
    if layers is None:
        found = [(n, m) for n, m in named if isinstance(m, types)]
        if not found:
            raise ValueError(f"{where}: model: no prunable layer ({kinds}) in "
                             f"{type(model).__name__}")
        return found
    if isinstance(layers, (str, Module)):
        layers = [layers]
    try:
        items = list(layers)
    except TypeError:
        raise TypeError(f"{where}: layers: expected None or a list of layer names or modules, got "
                        f"{type(layers).__name__}") from None
    if not items:
        raise ValueError(f"{where}: layers: expected at least one layer, got an empty list")
    by_name = dict(named)
    name_of = {id(m): n for n, m in named}
    out, chosen = [], set()
    for item in items:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(f"{where}: layers: {item!r} is not a layer of the model (its "
                                 f"{kinds} layers are {[n for n, m in named if isinstance(m, types)]})")
            name, layer = item, by_name[item]
        elif isinstance(item, Module):
            if id(item) not in name_of:
                raise ValueError(f"{where}: layers: the given {type(item).__name__} is not part "
                                 "of the model")
            name, layer = name_of[id(item)], item
        else:
            raise TypeError(f"{where}: layers: expected layer names or modules, got "
                            f"{type(item).__name__}")
        if not isinstance(layer, types):
            raise ValueError(f"{where}: layers: {display(name)} is a {type(layer).__name__}, not a "
                             f"{kinds} layer")
        if id(layer) in chosen:
            raise ValueError(f"{where}: layers: {display(name)} is named more than once")
        chosen.add(id(layer))
        out.append((name, layer))
    return out


def check_mask(param, name, where):
    """An existing mask must be a float32 0/1 array of the parameter's shape."""
    m = param.mask
    if m is None:
        return
    if not isinstance(m, np.ndarray) or m.dtype != np.float32 or m.shape != param.data.shape:
        shape = getattr(m, "shape", None)
        raise ValueError(f"{where}: the mask of {name}: expected a float32 array of shape "
                         f"{param.data.shape}, got {type(m).__name__} of shape {shape}")
    if not np.all((m == 0.0) | (m == 1.0)):
        raise ValueError(f"{where}: the mask of {name}: expected only 0 and 1 values")


def masked_weight(param):
    """A copy of the parameter's data with its mask (if any) applied."""
    w = np.array(param.data, dtype=np.float32, order="C", copy=True)
    if param.mask is not None:
        _C.mask_apply(w, param.mask)
    return w


def set_mask(param, mask):
    """Attach ``mask`` (float32 0/1, contiguous, the parameter's shape) and zero the pruned
    entries of the data in place."""
    param.mask = mask
    _C.mask_apply(param.data, mask)
