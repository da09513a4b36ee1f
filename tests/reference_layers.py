"""float64 references for the layer kernels (activations, softmax, losses, dropout mask) and a
central finite-difference helper. Independent of fastnn's code paths: plain numpy + math."""
import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
TINY32 = float(np.finfo(np.float32).tiny)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def phi64(x):
    """Standard normal CDF in float64."""
    return 0.5 * _erfc(-np.asarray(x, np.float64) / math.sqrt(2.0))


def sigmoid64(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def act64(name, x, param=None):
    x = np.asarray(x, np.float64)
    if name == "relu":
        return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))
    if name == "leaky_relu":
        return np.where(x > 0, x, x * (0.01 if param is None else param))
    if name == "elu":
        a = 1.0 if param is None else param
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        return x * phi64(x)
    if name == "sigmoid":
        return sigmoid64(x)
    if name == "tanh":
        return np.tanh(x)
    raise ValueError(name)


def act_grad64(name, x, param=None):
    """d act / dx at x (float64); at x == 0 the left branch, as PyTorch."""
    x = np.asarray(x, np.float64)
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, 0.01 if param is None else param)
    if name == "elu":
        a = 1.0 if param is None else param
        return np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    if name == "gelu":
        return phi64(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    if name == "sigmoid":
        s = sigmoid64(x)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(x) ** 2
    raise ValueError(name)


def softmax64(x, dim):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax64(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def cross_entropy64(logits, target, weight=None, label_smoothing=0.0, reduction="mean"):
    """PyTorch's definition (incl. class weights with label smoothing), in float64."""
    logp = log_softmax64(logits)
    n, c = logp.shape
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    t = np.asarray(target)
    nll = -w[t] * logp[np.arange(n), t]
    smooth = -(logp * w).sum(axis=1)
    rows = (1 - label_smoothing) * nll + label_smoothing / c * smooth
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / w[t].sum()


def pointwise64(kind, x, t, weight=None, pos_weight=None, delta=1.0, reduction="mean"):
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    d = x - t
    if kind == "mse":
        v = d * d
    elif kind == "huber":
        v = np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    elif kind == "bce":
        pw = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
        lw = 1 + (pw - 1) * t
        v = (1 - t) * x + lw * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))
    else:
        raise ValueError(kind)
    if weight is not None:
        v = v * np.asarray(weight, np.float64)
    if reduction == "none":
        return v
    return v.sum() if reduction == "sum" else v.mean()


# -- the dropout mask, re-derived from the documented hash (csrc/kernels/simd/elementwise_body.h)
_M64 = (1 << 64) - 1


def _splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _lowbias32(h):
    h = h.astype(np.uint64)
    m = np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & m
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & m
    h ^= h >> np.uint64(16)
    return h


def dropout_keep_ref(n, p, seed):
    """Boolean keep mask of n elements for (p, seed), computed independently in numpy."""
    key = _splitmix64(int(seed))
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    idx = np.arange(n, dtype=np.uint64)
    h = _lowbias32((idx + k0) & np.uint64(0xFFFFFFFF))
    h = _lowbias32(h ^ k1)
    threshold = math.ceil(p * 2 ** 24)
    return (h >> np.uint64(8)) >= np.uint64(threshold)


def fd_grad(f, x, g, h=1e-6):
    """Central finite differences of sum(g * f(x)) with respect to every element of x (float64)."""
    x = np.array(x, dtype=np.float64)
    out = np.empty_like(x)
    flat, gflat = x.reshape(-1), out.reshape(-1)
    for i in range(flat.size):
        v = flat[i]
        flat[i] = v + h
        up = np.sum(g * f(x))
        flat[i] = v - h
        down = np.sum(g * f(x))
        flat[i] = v
        gflat[i] = (up - down) / (2 * h)
    return out


def ulp_error(got, want):
    """|got - want| in units of float32 spacing at want (0 where |want| < the smallest normal)."""
    want = np.asarray(want, np.float64)
    sp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    e = np.abs(np.asarray(got, np.float64) - want) / sp
    return np.where(np.abs(want) < TINY32, 0.0, e)
