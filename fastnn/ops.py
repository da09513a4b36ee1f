"""Low-level operations (thin checks around the C++ kernels)."""
from fastnn import _C

# The GEMM epilogue's activations (_C.Unary members; None: no activation).
_ACTS = {None: None, "none": None, **{n: getattr(_C.Unary, n)
                                      for n in ("relu", "leaky_relu", "elu", "sigmoid", "tanh")}}
_ACT_DEFAULT_PARAM = {"leaky_relu": 0.01, "elu": 1.0}


def activation_code(activation, activation_param=None):
    """Map an activation name to its ``_C.Unary`` member (None for none) and its parameter
    (default slope/alpha)."""
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"activation: expected a string or None, got {type(activation).__name__}")
    if activation not in _ACTS:
        names = ", ".join(repr(k) for k in _ACTS if k)
        raise ValueError(f"activation: expected one of {names} or None, got {activation!r}")
    code = _ACTS[activation]
    if activation_param is None:
        activation_param = _ACT_DEFAULT_PARAM.get(activation, 0.0)
    return code, float(activation_param)


def matmul(a, b, *, trans_a=False, trans_b=False, bias=None, activation=None,
           activation_param=None, alpha=1.0, out=None, beta=0.0):
    """float32 ``act(alpha * op(a) @ op(b) + beta * out + bias)`` with op(x) = x.T where trans_x is set.

    a, b: 2-D real arrays (float64 etc. are converted; non-contiguous views work without a copy).
    bias: shape (n,), broadcast over rows. activation: 'relu', 'leaky_relu' (activation_param =
    negative slope, default 0.01), 'elu' (alpha, default 1.0), 'sigmoid', 'tanh' or None; applied
    in the GEMM epilogue while each output tile is in cache. out: optional float32 C-contiguous
    (m, n) array to write into (must not overlap the inputs). beta: 0 (out is overwritten, never
    read) or 1 (the product is added to out, e.g. to accumulate a gradient; needs out).
    """
    code, param = activation_code(activation, activation_param)
    return _C.matmul(a, b, bool(trans_a), bool(trans_b), bias, code, param, float(alpha), out,
                     float(beta))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """float32 2-D convolution of NCHW ``x`` with ``weight`` (out_channels, in_channels/groups,
    kh, kw), as ``torch.nn.functional.conv2d`` (no autograd: use ``nn.Conv2d`` to train).
    algorithm: "auto", "im2col", "direct", "winograd" (F(4x4, 3x3)) or "winograd_f2"
    (F(2x2, 3x3)); see ``nn.Conv2d``."""
    return _C.conv2d_forward(x, weight, bias, *_conv_args(stride, padding, dilation, groups,
                                                          algorithm))


def conv2d_algorithm(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                     algorithm="auto"):
    """The algorithm ``conv2d`` (and ``nn.Conv2d``) runs for these shapes: "im2col", "direct",
    "winograd", "winograd_f2" or "depthwise" (what "auto" picks, or the forced one)."""
    stride, padding, dilation, groups, algorithm = _conv_args(stride, padding, dilation, groups,
                                                              algorithm)
    return _C.conv2d_algorithm_for(algorithm, tuple(x_shape), tuple(weight_shape), stride,
                                   padding, dilation, groups)


def _conv_args(stride, padding, dilation, groups, algorithm):
    """conv2d's hyper-parameters checked (TypeError / ValueError naming each)."""
    from fastnn.nn import _spatial as sp
    if not isinstance(algorithm, str):
        raise TypeError(f"conv2d: algorithm: expected a string, got {type(algorithm).__name__}")
    return (sp.pair(stride, "stride", "conv2d", 1), sp.pair(padding, "padding", "conv2d", 0),
            sp.pair(dilation, "dilation", "conv2d", 1),
            sp.positive_int(groups, "groups", "conv2d"), algorithm)
