"""Float64 references for convolution, pooling and batch norm (independent of fastnn: plain numpy
over shifted slices), central finite differences, and the tolerance rule of tests/reference.py."""
import numpy as np

from tests.reference import EPS32


def tol(k, *scales, safety=8.0):
    """eps32 * sqrt(K) * product of the operand magnitudes * a small safety factor."""
    s = 1.0
    for v in scales:
        s *= float(np.max(np.abs(v))) if np.size(v) else 0.0
    return safety * EPS32 * np.sqrt(max(int(k), 1)) * max(s, 1e-30)


def winograd_tol(c, x, w):
    """The accuracy bound Winograd convolution is held to (issue 16): 2e-5 * sqrt(9 * C_in) *
    max|x| * max|w| -- what "auto" may trade for speed on 3x3 stride-1 layers."""
    return 2e-5 * np.sqrt(9 * c) * float(np.max(np.abs(x))) * float(np.max(np.abs(w)))


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _taps(xp, ki, kj, oh, ow, stride, dilation):
    """xp[..., ki*dh + oy*sh, kj*dw + ox*sw] for all output pixels (a strided view)."""
    (sh, sw), (dh, dw) = stride, dilation
    return xp[:, :, ki * dh: ki * dh + sh * (oh - 1) + 1: sh, kj * dw: kj * dw + sw * (ow - 1) + 1: sw]


def conv_out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    oh = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_out_size(wd, kw, stride[1], padding[1], dilation[1])
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    kg = k // groups
    y = np.zeros((n, k, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for ki in range(kh):
            for kj in range(kw):
                y[:, g * kg:(g + 1) * kg] += np.einsum(
                    "ncij,oc->noij", _taps(xs, ki, kj, oh, ow, stride, dilation),
                    w[g * kg:(g + 1) * kg, :, ki, kj])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_grads_ref(x, w, gy, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dw, db) of sum(conv2d_ref(x, w, b) * gy), by the adjoint of each shifted slice."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    gy = np.asarray(gy, np.float64)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    kg = k // groups
    for g in range(groups):
        xs, dxs = xp[:, g * cg:(g + 1) * cg], dxp[:, g * cg:(g + 1) * cg]
        gys = gy[:, g * kg:(g + 1) * kg]
        for ki in range(kh):
            for kj in range(kw):
                dw[g * kg:(g + 1) * kg, :, ki, kj] += np.einsum(
                    "ncij,noij->oc", _taps(xs, ki, kj, oh, ow, stride, dilation), gys)
                _taps(dxs, ki, kj, oh, ow, stride, dilation)[...] += np.einsum(
                    "noij,oc->ncij", gys, w[g * kg:(g + 1) * kg, :, ki, kj])
    dx = dxp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd]
    return dx, dw, gy.sum(axis=(0, 2, 3))


def conv_transpose2d_ref(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                         groups=1):
    """ConvTranspose2d as the adjoint of conv2d (weight (in, out/groups, kh, kw))."""
    stride, padding = _pair(stride), _pair(padding)
    output_padding, dilation = _pair(output_padding), _pair(dilation)
    x = np.asarray(x, np.float64)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    ow = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    ghost = np.zeros((n, cog * groups, oh, ow))
    y, _, _ = conv2d_grads_ref(ghost, w, x, stride, padding, dilation, groups)
    if b is not None:
        y = y + np.asarray(b, np.float64)[None, :, None, None]
    return y


def pool2d_ref(x, kernel, stride, padding, mode):
    """(y, argmax) for mode 'max' (argmax = flat index in the plane, first maximum, NaN wins as
    PyTorch) or y for 'avg' (count_include_pad)."""
    x = np.asarray(x, np.float64)
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n, c, h, wd = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    arg = np.zeros((n, c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * sh - ph, ox * sw - pw
            ys, xs = range(max(y0, 0), min(y0 + kh, h)), range(max(x0, 0), min(x0 + kw, wd))
            if mode == "avg":
                y[:, :, oy, ox] = x[:, :, ys.start:ys.stop, xs.start:xs.stop].sum(axis=(2, 3)) / (kh * kw)
                continue
            best = np.full((n, c), -np.inf)
            at = np.full((n, c), ys.start * wd + xs.start)
            for iy in ys:
                for ix in xs:
                    v = x[:, :, iy, ix]
                    up = (v > best) | np.isnan(v)
                    best = np.where(up, v, best)
                    at = np.where(up, iy * wd + ix, at)
            y[:, :, oy, ox], arg[:, :, oy, ox] = best, at
    return (y, arg) if mode == "max" else y


def batchnorm_ref(x, gamma, beta, eps):
    """Training-mode batch norm over axis 1: (y, mean, biased var, unbiased var)."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    count = x.size // x.shape[1]
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if gamma is not None:
        y = y * np.asarray(gamma, np.float64).reshape(shape) + np.asarray(beta, np.float64).reshape(shape)
    return y, mean, var, var * count / (count - 1)


def central_diff(f, arrays, index, h):
    """d f() / d arrays[index] by central differences, perturbing one element at a time (float64)."""
    a = arrays[index]
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * h)
    return g
