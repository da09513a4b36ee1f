"""Shared pieces of the 1-D layers (Conv1d, the 1-D pools and pads): an (N, C, L) input is run
through the 2-D C++ frame as the (N, C, 1, L) view, so every 1-D layer reuses the 2-D kernels."""
import numbers

import numpy as np

from fastnn.nn import _spatial as sp


def single(value, name, owner, minimum):
    """An int or a 1-tuple/list of an int -> int in [minimum, MAX_PARAM]; TypeError / ValueError
    naming the argument (PyTorch's _single)."""
    v = value
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{owner}: {name}: expected an int or a 1-tuple of an int, got {value!r}")
    if v < minimum:
        raise ValueError(f"{owner}: {name}: expected a value >= {minimum}, got {value!r}")
    if v > sp.MAX_PARAM:
        raise ValueError(f"{owner}: {name}: expected a value <= {sp.MAX_PARAM} (2**31 - 1), got "
                         f"{value!r}")
    return int(v)


def as_input(x, owner, channels=None):
    """(x as a contiguous float32 (N, C, 1, L) view, whether one (C, L) sample was given)."""
    x = sp.as_input(x, owner, (2, 3), None, "(N, C, L) or (C, L)")
    unbatched = x.ndim == 2
    if unbatched:
        x = x[None]
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{owner}: input: expected {channels} channels at axis "
                         f"{0 if unbatched else 1} (N, C, L) or (C, L), got shape "
                         f"{x.shape[1:] if unbatched else x.shape}")
    return x[:, :, None, :], unbatched


def grad4(grad_out, saved, owner):
    """grad_out checked against the forward output's shape -> the (N, C, 1, L') view.
    saved: (unbatched, output shape as returned)."""
    if saved is None:
        raise sp.not_run(owner)
    unbatched, shape = saved
    g = sp.check_grad(grad_out, shape, owner)
    g = g[None] if unbatched else g
    return g[:, :, None, :]


def frame(owner, x, fn, *args):
    """fn(*args) on the (N, C, 1, L) view of input x: the C++ frame checks the window against
    the input (the one place that check lives); its error, which speaks of the 2-D view,
    is re-raised naming this layer and the 1-D input shape."""
    try:
        return fn(*args)
    except ValueError as e:
        raise ValueError(f"{owner}: input of shape {np.shape(x)} (run as the (N, C, 1, L) "
                         f"view): {e}") from e


def out3(y4, unbatched):
    """An (N, C, 1, L) result -> (N, C, L), or (C, L) for one sample."""
    y = y4[:, :, 0, :]
    return y[0] if unbatched else y
