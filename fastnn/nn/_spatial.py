"""Argument and input checks shared by the spatial layers (conv, pooling, batch norm).

Every message names the layer (its repr), the argument and the expected versus actual value.
"""
import numbers

import numpy as np

from fastnn import _C

# The largest kernel size, stride, padding, dilation, output_padding, groups or channel count a
# layer accepts (the C++ side's kMaxWindowParam, csrc/include/fastnn/ops.h): PyTorch takes any
# int64, but beyond 2**31 - 1 no window fits an array that can be allocated, and the geometry's
# arithmetic stays far from int64 overflow.
MAX_PARAM = 2**31 - 1


def pair(value, name, owner, minimum):
    """An int or a pair of ints -> a tuple (a, b), each in [minimum, MAX_PARAM]; ValueError /
    TypeError naming it."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name}: expected an int or a pair of ints, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{owner}: {name}: expected an int or a pair of ints, got {value!r}")
    if out[0] < minimum or out[1] < minimum:
        raise ValueError(f"{owner}: {name}: expected values >= {minimum}, got {value!r}")
    if out[0] > MAX_PARAM or out[1] > MAX_PARAM:
        raise ValueError(f"{owner}: {name}: expected values <= {MAX_PARAM} (2**31 - 1), got "
                         f"{value!r}")
    return out


def positive_int(value, name, owner):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name}: expected an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: {name}: expected an int >= 1, got {value!r}")
    if value > MAX_PARAM:
        raise ValueError(f"{owner}: {name}: expected an int <= {MAX_PARAM} (2**31 - 1), got "
                         f"{value!r}")
    return int(value)


def conv_algorithm(algorithm, owner, kernel_size, stride, dilation, groups, in_channels):
    """A Conv2d algorithm name checked against the layer's hyper-parameters (the check itself is
    the C++ frame's conv2d_check_algorithm): TypeError / ValueError naming it."""
    if not isinstance(algorithm, str):
        raise TypeError(f"{owner}: algorithm: expected a string ('auto', 'im2col', 'direct', "
                        f"'winograd', 'winograd_f2'), got {type(algorithm).__name__}")
    if algorithm == "bf16":  # an inference mode of the model, not a layer's algorithm
        raise ValueError(f"{owner}: algorithm: 'bf16' is set for inference by Module.to_bf16(); "
                         f"expected 'auto', 'im2col', 'direct', 'winograd' or 'winograd_f2'")
    try:
        return _C.conv2d_check_algorithm(algorithm, kernel_size, stride, dilation, groups,
                                         in_channels)
    except ValueError as e:
        raise ValueError(f"{owner}: {e}") from None


def show(p):
    """(a, a) -> "(a, a)" as PyTorch prints tuples."""
    return f"({p[0]}, {p[1]})"


def as_input(x, owner, ndims, channels=None, layout="(N, C, H, W)"):
    """x as a C-contiguous float32 array with ndim in `ndims` and `channels` at axis 1 (axis 0 for
    an unbatched 3-D input when 3 in ndims and layout is NCHW)."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{owner}: input: expected a floating-point array, got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{owner}: input: expected a {want} array {layout}, got shape "
                         f"{arr.shape}")
    if channels is not None:
        axis = 0 if (arr.ndim == 3 and 4 in ndims) else 1
        if arr.shape[axis] != channels:
            raise ValueError(f"{owner}: input: expected {channels} channels at axis {axis} "
                             f"{layout}, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_grad(grad_out, expected_shape, owner):
    g = np.asarray(grad_out)
    if g.dtype.kind != "f":
        raise TypeError(f"{owner}: grad_out: expected a floating-point array, got dtype {g.dtype}")
    if g.shape != tuple(expected_shape):
        raise ValueError(f"{owner}: grad_out: expected shape {tuple(expected_shape)} (the "
                         f"forward output), got {g.shape}")
    return np.ascontiguousarray(g, dtype=np.float32)


def not_run(owner):
    return ValueError(f"{owner}: backward called before forward")


def grad_of(param):
    """The .grad array a kernel accumulates into, or None when the parameter is absent or frozen."""
    if param is None or not param.requires_grad:
        return None
    return param.grad
