"""The int8 GEMM: weights packed once, u8 activations x s8 weights -> exact int32 accumulation,
then a fused epilogue that dequantises to float32, requantises to uint8, or returns int32.

All arithmetic is in C++ (fastnn._C); this module only names and forwards the arguments. Integer
inputs must already have their exact dtype: nothing is cast into an integer type, so a float array
can never be silently truncated.
"""
import numbers

import numpy as np

from fastnn import _C

PackedWeightsS8 = _C.PackedWeightsS8

_OUT_DTYPES = ("float32", "uint8", "int32")


def pack_weights(w):
    """Pack int8 weights ``w`` of shape (n, k) - the Linear (out_features, in_features) layout -
    into the GEMM's panel layout, once. Returns a :class:`PackedWeightsS8` (shape, column sums,
    ``unpack()``). The layout is the same for every ISA path, so the packed object stays valid
    when the active ISA changes (``fastnn.set_isa``)."""
    return _C.pack_weights_s8(w)


def _int_arg(name, v):
    if type(v) is int:  # fast path
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
    return int(v)


def _float_arg(name, v):
    if type(v) is float:  # fast path
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(v).__name__}")
    return float(v)


def _vector_arg(v):
    # A 0-d array or numpy scalar is a per-tensor value; arrays go to C++ for the shape check.
    if v is None or type(v) is float:
        return v
    if type(v) is np.ndarray and v.ndim:
        return v
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    return v


def gemm_u8s8(a, packed, *, za=0, out_dtype="float32", scale_a=1.0, scale_b=None, bias=None,
              bias_i32=None, scale_out=1.0, z_out=0, relu=False, out=None):
    """``a @ w.T`` for uint8 ``a`` (m, k) and the packed int8 weights ``w`` (n, k).

    Accumulation is exact in int32: ``acc'[i, j] = sum_p (a[i, p] - za) * w[j, p] + bias_i32[j]``
    (``za * colsum(w)`` is subtracted per column; the column sums were computed at packing time).
    Then, per output column j (``scale_b``: a scalar or an (n,) per-channel array):

    - ``out_dtype='int32'``: ``acc'`` itself (scale_b, bias and relu must be left unset).
    - ``'float32'``: ``y = scale_a * scale_b[j] * acc' + bias[j]``, then ReLU if ``relu``.
    - ``'uint8'``: ``q = round_half_even(y / scale_out) + z_out``, saturated to [0, 255]
      (to [z_out, 255] with ``relu``); out-of-range values saturate, they never wrap.

    The float arithmetic is float32 and identical on every ISA path: ``y = fma(float(acc'),
    s[j], t[j])`` with ``s = scale_b[j] * (scale_a / scale_out)`` and ``t = bias[j] * (1 /
    scale_out) + z_out`` for uint8 (``s = scale_b[j] * scale_a``, ``t = bias[j]`` for float32;
    the quotients in float64, then float32 products), then clamping and round-half-to-even. A
    combination that overflows float32 is a ValueError. ``out``: optional C-contiguous (m, n)
    array of the output dtype to write into.
    """
    if type(out_dtype) is str:
        name = out_dtype
    else:
        try:
            name = np.dtype(out_dtype).name
        except TypeError:
            raise TypeError(f"out_dtype: expected one of {_OUT_DTYPES}, got {out_dtype!r}") from None
    if name not in _OUT_DTYPES:
        raise ValueError(f"out_dtype: expected one of {_OUT_DTYPES}, got {out_dtype!r}")
    if not isinstance(packed, PackedWeightsS8):
        raise TypeError(f"packed: expected PackedWeightsS8 (from pack_weights), got "
                        f"{type(packed).__name__}")
    return _C.gemm_u8s8(a, packed, _int_arg("za", za), name, _float_arg("scale_a", scale_a),
                        _vector_arg(scale_b), _vector_arg(bias), bias_i32,
                        _float_arg("scale_out", scale_out), _int_arg("z_out", z_out), bool(relu),
                        out)
