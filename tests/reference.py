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
