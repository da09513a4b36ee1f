"""Weight initialisers (fastnn.nn.init), as torch.nn.init: each fills a Parameter (its ``.data``)
or a float numpy array in place and returns it. Random draws come from
``fastnn._random.generator()``, so ``fastnn.manual_seed(s)`` makes them reproducible.

Fans follow PyTorch for every weight of 2 or more dimensions: fan_in = shape[1] * receptive field,
fan_out = shape[0] * receptive field, receptive field = prod(shape[2:]) (kh * kw for a 4-D
convolution weight). Gains follow ``calculate_gain``.
"""
import math
import numbers

import numpy as np

from fastnn import _random
from fastnn.nn.module import Parameter

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
           "lecun_normal_"]


def _array(tensor, fn):
    """The float array an initialiser writes into."""
    arr = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{fn}: expected a Parameter or a numpy array, got {type(tensor).__name__}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating array, got dtype {arr.dtype}")
    if not arr.flags.writeable:
        raise ValueError(f"{fn}: the array is read-only")
    return arr


def _number(value, name, fn):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def _fans(arr, fn):
    if arr.ndim < 2:
        raise ValueError(f"{fn}: fan in and fan out need a weight of at least 2 dimensions, got "
                         f"shape {arr.shape}")
    receptive = int(np.prod(arr.shape[2:])) if arr.ndim > 2 else 1
    return arr.shape[1] * receptive, arr.shape[0] * receptive


def _fan(arr, mode, fn):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(arr, fn)
    return fan_in if mode == "fan_in" else fan_out


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's values): 1 for linear/conv/sigmoid,
    5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope = param,
    default 0.01), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _number(param, "param", "calculate_gain")
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    arr = _array(tensor, "uniform_")
    lo, hi = _number(a, "a", "uniform_"), _number(b, "b", "uniform_")
    if hi < lo:
        raise ValueError(f"uniform_: expected a <= b, got a={lo}, b={hi}")
    arr[...] = _random.generator().uniform(lo, hi, size=arr.shape)
    return tensor


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    arr = _array(tensor, "normal_")
    m, s = _number(mean, "mean", "normal_"), _number(std, "std", "normal_")
    if s < 0:
        raise ValueError(f"normal_: std must be >= 0, got {s}")
    arr[...] = _random.generator().normal(m, s, size=arr.shape)
    return tensor


def constant_(tensor, val):
    """Fill with a constant (e.g. 0.1 for the bias of a ReLU layer)."""
    _array(tensor, "constant_")[...] = _number(val, "val", "constant_")
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan), gain =
    calculate_gain(nonlinearity, a). ``a=sqrt(5)`` gives Linear's and Conv2d's default
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    arr = _array(tensor, "kaiming_uniform_")
    fan = _fan(arr, mode, "kaiming_uniform_")
    if arr.size == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    arr[...] = _random.generator().uniform(-bound, bound, size=arr.shape)
    return tensor


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan)."""
    arr = _array(tensor, "kaiming_normal_")
    fan = _fan(arr, mode, "kaiming_normal_")
    if arr.size == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    arr[...] = _random.generator().normal(0.0, std, size=arr.shape)
    return tensor


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    arr = _array(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(arr, "xavier_uniform_")
    if arr.size == 0:
        return tensor
    bound = _number(gain, "gain", "xavier_uniform_") * math.sqrt(6.0 / (fan_in + fan_out))
    arr[...] = _random.generator().uniform(-bound, bound, size=arr.shape)
    return tensor


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    arr = _array(tensor, "xavier_normal_")
    fan_in, fan_out = _fans(arr, "xavier_normal_")
    if arr.size == 0:
        return tensor
    std = _number(gain, "gain", "xavier_normal_") * math.sqrt(2.0 / (fan_in + fan_out))
    arr[...] = _random.generator().normal(0.0, std, size=arr.shape)
    return tensor


def lecun_normal_(tensor):
    """LeCun normal: N(0, 1 / fan_in) (the SELU paper's initialisation; a plain, not truncated,
    normal -- Keras' lecun_normal truncates at two standard deviations)."""
    arr = _array(tensor, "lecun_normal_")
    fan_in, _ = _fans(arr, "lecun_normal_")
    if arr.size == 0:
        return tensor
    arr[...] = _random.generator().normal(0.0, 1.0 / math.sqrt(fan_in), size=arr.shape)
    return tensor
