"""Plain float64 references the kernels are checked against, and the tolerance rule.

Tolerance for a float32 result of a K-term reduction: eps32 * sqrt(K) * max|terms| * C with a small
safety factor C; int8 results are compared exactly.
"""
import numpy as np

EPS32 = np.finfo(np.float32).eps


def act_ref(x, activation=None, param=None):
    x = np.asarray(x, dtype=np.float64)
    if activation in (None, "none"):
        return x
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "leaky_relu":
        p = 0.01 if param is None else param
        return np.where(x > 0, x, x * p)
    if activation == "elu":
        p = 1.0 if param is None else param
        return np.where(x > 0, x, p * np.expm1(np.minimum(x, 0)))
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if activation == "tanh":
        return np.tanh(x)
    raise ValueError(activation)


def matmul_ref(a, b, trans_a=False, trans_b=False, bias=None, activation=None, param=None,
               alpha=1.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if trans_a:
        a = a.T
    if trans_b:
        b = b.T
    c = alpha * (a @ b)
    if bias is not None:
        c = c + np.asarray(bias, dtype=np.float64)
    return act_ref(c, activation, param)


def gemm_tol(a, b, k, trans_a=False, trans_b=False, alpha=1.0, bias=None, safety=4.0):
    """Per-problem bound: eps * sqrt(K) * max|a_ip * b_pj| summed scale, plus bias rounding."""
    k = max(int(k), 1)
    amax = float(np.max(np.abs(a))) if np.size(a) else 0.0
    bmax = float(np.max(np.abs(b))) if np.size(b) else 0.0
    scale = abs(alpha) * amax * bmax * np.sqrt(k)
    if bias is not None and np.size(bias):
        scale += float(np.max(np.abs(bias)))
    return safety * EPS32 * max(scale, 1e-30) * 2


def _requantize_f32(q, scale, zero_point, out_scale):
    """float32 (q - z) * float32(s / s_out), as frame/quant_join.cpp computes it."""
    m = np.float32(np.float64(np.float32(scale)) / np.float64(np.float32(out_scale)))
    return (q.astype(np.float32) - np.float32(zero_point)) * m


def _to_u8(v, out_zero_point, relu):
    lo = out_zero_point if relu else 0
    return np.clip(np.rint(v) + np.float32(out_zero_point), lo, 255).astype(np.uint8)


def concat_u8_ref(inputs, scales, zero_points, out_scale, out_zero_point, relu=False):
    """uint8 tensors side by side on the last axis, each requantized to (out_scale, out_zp)."""
    parts = [_to_u8(_requantize_f32(q, s, z, out_scale), out_zero_point, relu)
             for q, s, z in zip(inputs, scales, zero_points)]
    return np.concatenate(parts, axis=-1)


def add_u8_ref(a, sa, za, b, sb, zb, out_scale, out_zero_point, relu=False):
    """a + b of uint8 tensors with their own qparams, in the output's (float32, no FMA)."""
    v = _requantize_f32(a, sa, za, out_scale) + _requantize_f32(b, sb, zb, out_scale)
    return _to_u8(v.astype(np.float32), out_zero_point, relu)
