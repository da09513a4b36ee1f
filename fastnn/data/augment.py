"""Data augmentation on NCHW image batches (uint8 or float32), seeded.

Each transform is an object called as ``t(batch, rng)`` that returns a new array (``batch`` is
never modified): ``rng`` is a numpy Generator (None: fastnn's global one, see
``fastnn.manual_seed``; an int: a fresh Generator seeded with it). The per-sample random
parameters (offsets, flip flags, noise) are drawn from ``rng`` in numpy, in a fixed order, and the
pixel work runs in the Cython module ``fastnn.data._augment`` without the GIL — so the same rng
state gives the same batch, bit for bit.

Batches are ``(N, C, H, W)``; ``(N, H, W)`` is accepted as one channel and keeps its shape.

    aug = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(0.5), GaussianNoise(0.05)])
    xb = aug(xb, rng)

Geometric warps (``rotate``, ``random_rotate``, ``random_zoom``, ``random_affine`` and the general
``affine``) sample bilinearly about the image centre with zero fill, the convention of
``scipy.ndimage.rotate(img, degrees, reshape=False, order=1, mode="constant")``: a positive angle
turns the image counter-clockwise as displayed (row 0 at the top), 90 degrees is ``np.rot90``.

The functional forms (``random_crop``, ``random_shift``, ``random_hflip``, ``gaussian_noise``) and
the deterministic ``translate`` and ``hflip`` accept ``out=`` (a C-contiguous array of the result's
shape and dtype that does not overlap the input; ``hflip`` and ``gaussian_noise`` may also work in
place with ``out=batch``).
"""
import numbers

import numpy as np

from fastnn import _random
from fastnn.data import _augment

__all__ = ["Compose", "RandomCrop", "RandomShift", "RandomHorizontalFlip", "GaussianNoise",
           "RandomRotation", "RandomZoom", "RandomAffine",
           "random_crop", "random_shift", "random_hflip", "gaussian_noise", "translate", "hflip",
           "rotate", "random_rotate", "random_zoom", "random_affine", "affine",
           "normal_quantiles"]

_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))


# -- checks ---------------------------------------------------------------------------------------
def _as_nchw(batch, name="batch"):
    """(contiguous 4-d view or copy, was_3d). TypeError/ValueError name the argument."""
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(batch).__name__}")
    if batch.dtype not in _DTYPES:
        raise TypeError(f"{name}: expected dtype uint8 or float32, got {batch.dtype}")
    if batch.ndim == 3:
        return np.ascontiguousarray(batch[:, None]), True
    if batch.ndim != 4:
        raise ValueError(f"{name}: expected an NCHW batch of shape (N, C, H, W) or (N, H, W), got "
                         f"shape {batch.shape}")
    return np.ascontiguousarray(batch), False


def _output(out, shape4, dtype, was_3d, src, allow_same=False):
    """Allocate the result, or check ``out`` and return its 4-d view."""
    shape = (shape4[0],) + tuple(shape4[2:]) if was_3d else tuple(shape4)
    if out is None:
        return np.empty(shape4, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out: expected dtype {dtype}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out: expected shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out: expected a writeable C-contiguous array")
    if np.shares_memory(out, src):
        same = (out.__array_interface__["data"][0] == src.__array_interface__["data"][0]
                and out.size == src.size)
        if not (allow_same and same):
            raise ValueError("out: must not overlap the input batch" +
                             (" (except being the same array)" if allow_same else ""))
    return out.reshape(shape4)


def _finish(res4, was_3d):
    return res4.reshape((res4.shape[0],) + res4.shape[2:]) if was_3d else res4


def _rng(rng):
    if rng is None:
        return _random.generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got "
                    f"{type(rng).__name__}")


def _pair(v, name, minimum):
    """int or (int, int) -> (int, int), each >= minimum."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        pair = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v)):
        pair = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{name}: expected an int or a pair of ints, got {v!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name}: expected values >= {minimum}, got {v!r}")
    return pair


def _offsets(a, name, n):
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer offsets, got dtype {arr.dtype}")
    arr = np.full(n, arr, np.int64) if arr.ndim == 0 else np.ascontiguousarray(arr, np.int64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected {n} offsets (one per sample), got shape {arr.shape}")
    return arr


# -- deterministic kernels ------------------------------------------------------------------------
def translate(batch, oy, ox, size=None, out=None):
    """``out[n, c, i, j] = batch[n, c, i + oy[n], j + ox[n]]`` inside the image, 0 outside.

    oy, ox: an int or one int per sample. size: output (H, W) (int or pair; default the input's).
    A shift by (dy, dx) is ``translate(b, -dy, -dx)``; a crop at (top, left) of the image padded
    by p is ``translate(b, top - p, left - p, size)``."""
    x, was_3d = _as_nchw(batch)
    n, c, h, w = x.shape
    oh, ow = (h, w) if size is None else _pair(size, "size", 1)
    oy = _offsets(oy, "oy", n)
    ox = _offsets(ox, "ox", n)
    res = _output(out, (n, c, oh, ow), x.dtype, was_3d, x)
    _augment.translate(x, res, oy, ox)
    return _finish(res, was_3d)


def hflip(batch, flags=None, out=None):
    """Mirror left-right the samples whose flag is true (all when flags is None)."""
    x, was_3d = _as_nchw(batch)
    n = x.shape[0]
    if flags is None:
        f = np.ones(n, np.uint8)
    else:
        f = np.asarray(flags)
        if f.shape != (n,):
            raise ValueError(f"flags: expected shape ({n},), got {f.shape}")
        f = np.ascontiguousarray(f != 0, dtype=np.uint8)
    res = _output(out, x.shape, x.dtype, was_3d, x, allow_same=True)
    _augment.hflip(x, res, f)
    return _finish(res, was_3d)


# -- random transforms (functional) ---------------------------------------------------------------
def random_crop(batch, size, padding=0, rng=None, out=None):
    """Zero-pad each side by ``padding`` and cut a ``size`` window at a uniformly random position
    per sample (torchvision's RandomCrop with padding)."""
    x, was_3d = _as_nchw(batch)
    n, c, h, w = x.shape
    oh, ow = _pair(size, "size", 1)
    ph, pw = _pair(padding, "padding", 0)
    if oh > h + 2 * ph or ow > w + 2 * pw:
        raise ValueError(f"size: crop {(oh, ow)} is larger than the padded image "
                         f"{(h + 2 * ph, w + 2 * pw)}")
    g = _rng(rng)
    top = g.integers(0, h + 2 * ph - oh + 1, size=n, dtype=np.int64)
    left = g.integers(0, w + 2 * pw - ow + 1, size=n, dtype=np.int64)
    res = _output(out, (n, c, oh, ow), x.dtype, was_3d, x)
    _augment.translate(x, res, top - ph, left - pw)
    return _finish(res, was_3d)


def random_shift(batch, max_shift, rng=None, out=None):
    """Translate each sample by (dy, dx), each uniform in [-max_shift, max_shift], zero fill."""
    x, was_3d = _as_nchw(batch)
    n = x.shape[0]
    ky, kx = _pair(max_shift, "max_shift", 0)
    g = _rng(rng)
    dy = g.integers(-ky, ky + 1, size=n, dtype=np.int64)
    dx = g.integers(-kx, kx + 1, size=n, dtype=np.int64)
    res = _output(out, x.shape, x.dtype, was_3d, x)
    _augment.translate(x, res, -dy, -dx)
    return _finish(res, was_3d)


def random_hflip(batch, p=0.5, rng=None, out=None):
    """Mirror each sample left-right with probability p."""
    p = _prob(p)
    x, was_3d = _as_nchw(batch)
    flags = np.ascontiguousarray(_rng(rng).random(x.shape[0]) < p, dtype=np.uint8)
    res = _output(out, x.shape, x.dtype, was_3d, x, allow_same=True)
    _augment.hflip(x, res, flags)
    return _finish(res, was_3d)


def gaussian_noise(batch, std, rng=None, clip=None, out=None):
    """Add N(0, std^2) noise per element.

    ``std`` is in units of [0, 1] intensity: uint8 batches (0..255 standing for 0..1) get noise of
    standard deviation ``std * 255``, rounded and clipped to [0, 255]. float32 batches get ``std``
    as is, clipped to ``clip = (lo, hi)`` when given. Deviates come from uniform 32-bit draws by
    inverse transform sampling (see ``normal_quantiles``: |z| <= 3.9)."""
    if isinstance(std, bool) or not isinstance(std, numbers.Real) or not np.isfinite(std) \
            or std < 0:
        raise ValueError(f"std: expected a finite number >= 0, got {std!r}")
    lo, hi = -np.inf, np.inf
    if clip is not None:
        try:
            lo, hi = (float(v) for v in clip)
        except (TypeError, ValueError):
            raise TypeError(f"clip: expected None or a pair (lo, hi), got {clip!r}") from None
        if not lo <= hi:
            raise ValueError(f"clip: expected lo <= hi, got {clip!r}")
    x, was_3d = _as_nchw(batch)
    n, f = x.shape[0], int(np.prod(x.shape[1:]))
    # Uniform 32-bit words from the Generator, turned into normal deviates in Cython (about 6x
    # faster than Generator.standard_normal, which would dominate an augmentation pipeline).
    bits = _rng(rng).integers(0, 2**32, size=(n, f), dtype=np.uint32)
    res = _output(out, x.shape, x.dtype, was_3d, x, allow_same=True)
    sigma = float(std) * (255.0 if x.dtype == np.uint8 else 1.0)
    _augment.add_noise(x.reshape(n, f), res.reshape(n, f), bits, normal_quantiles(), sigma, lo,
                       hi, clip is not None)
    return _finish(res, was_3d)


_QUANTILE_BITS = 12
_quantiles = []


def normal_quantiles():
    """Knots of the piecewise-linear standard normal quantile function used by gaussian_noise:
    ``q[j] = Phi^-1(j / K)`` for the K - 1 interior knots (K = 4096); each end knot is placed so
    that its bin has the mean of the normal tail it stands for. Sampling ``z`` by linear
    interpolation at a uniform ``u`` matches N(0, 1) to within 1e-4 in distribution (CDF error)
    for |z| < 3.4; the tails (2 x 1/4096 of the mass) are bounded by |z| <= 3.9."""
    if not _quantiles:
        from statistics import NormalDist
        nd, k = NormalDist(), 1 << _QUANTILE_BITS
        inner = [nd.inv_cdf(j / k) for j in range(1, k)]
        a = inner[0]
        tail_mean = -nd.pdf(a) / nd.cdf(a)  # E[z | z < a]
        end = 2.0 * tail_mean - a
        _quantiles.append(np.array([end] + inner + [-end], np.float32))
    return _quantiles[0]


# -- geometric warps (bilinear, zero fill) ------------------------------------------------------------
def _cos_sin(deg):
    """cos and sin of angles in degrees (an array), exact at multiples of 90 (as scipy's
    cosdg/sindg)."""
    rad = np.deg2rad(deg)
    c, s = np.cos(rad), np.sin(rad)
    quarter = np.mod(deg, 90.0) == 0
    if quarter.any():
        k = np.mod(np.round(deg[quarter] / 90.0), 4).astype(np.int64)
        c[quarter] = np.array([1.0, 0.0, -1.0, 0.0])[k]
        s[quarter] = np.array([0.0, 1.0, 0.0, -1.0])[k]
    return c, s


def _warp_mats(h, w, n, degrees=0.0, zoom=1.0, ty=0.0, tx=0.0):
    """(n, 6) inverse maps: input = R @ ((out - t) - centre) / zoom + centre, R = [[c, s], [-s, c]]
    (scipy.ndimage.rotate's matrix); arguments are scalars or one value per sample."""
    c, s = _cos_sin(np.array(np.broadcast_to(np.asarray(degrees, np.float64), (n,))))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    mats = np.empty((n, 6), np.float64)
    a, b = (c, s) if np.ndim(zoom) == 0 and zoom == 1.0 else (c / zoom, s / zoom)
    mats[:, 0], mats[:, 1], mats[:, 3], mats[:, 4] = a, b, -b, a
    oy, ox = cy + np.asarray(ty, np.float64), cx + np.asarray(tx, np.float64)  # centre + t
    mats[:, 2] = cy - a * oy - b * ox
    mats[:, 5] = cx + b * oy - a * ox
    return mats


def _finite_array(v, name, n):
    arr = np.asarray(v, np.float64) if not isinstance(v, bool) else None
    if arr is None or arr.dtype.kind != "f" or not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite numbers, got {v!r}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape != (n,)):
        raise ValueError(f"{name}: expected a number or one per sample ({n},), got shape "
                         f"{arr.shape}")
    return arr


def _range(v, name, lo_ok=-np.inf, center=None):
    """A number a -> (center - a, center + a) (or (-a, a)); a pair -> itself; checked."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        a = float(v)
        if not np.isfinite(a) or a < 0:
            raise ValueError(f"{name}: expected a finite number >= 0 or a (low, high) pair, got "
                             f"{v!r}")
        pair = (-a, a) if center is None else (center - a, center + a)
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Real) and not isinstance(e, bool) for e in v)):
        pair = (float(v[0]), float(v[1]))
    else:
        raise TypeError(f"{name}: expected a number or a (low, high) pair, got {v!r}")
    if not (np.isfinite(pair).all() and pair[0] <= pair[1] and pair[0] > lo_ok):
        raise ValueError(f"{name}: expected finite low <= high" +
                         (f", low > {lo_ok:g}" if lo_ok > -np.inf else "") + f", got {v!r}")
    return pair


def _warp(x, res, mats):
    """One matrix (6,) for all samples: the shared-table kernel; else one per sample."""
    if mats.ndim == 1:
        _augment.affine_shared(x, res, mats)
    else:
        _augment.affine(x, res, mats)


def affine(batch, matrices, out=None):
    """General warp: ``out[n, c, i, j]`` = bilinear sample of ``batch[n, c]`` at row
    ``m0*i + m1*j + m2``, column ``m3*i + m4*j + m5`` with ``m = matrices[n]`` (shape (N, 6), or
    (6,) for all), zero outside the image (scipy.ndimage.affine_transform's order=1,
    mode="constant" with matrix [[m0, m1], [m3, m4]] and offset (m2, m5))."""
    x, was_3d = _as_nchw(batch)
    n = x.shape[0]
    m = np.asarray(matrices, np.float64)
    if m.shape not in ((n, 6), (6,)) or not np.isfinite(m).all():
        raise ValueError(f"matrices: expected finite values of shape ({n}, 6) or (6,), got "
                         f"shape {m.shape}")
    res = _output(out, x.shape, x.dtype, was_3d, x)
    _warp(x, res, np.ascontiguousarray(m))
    return _finish(res, was_3d)


def rotate(batch, degrees, out=None):
    """Rotate each sample by ``degrees`` (a number, or one per sample) about the image centre,
    counter-clockwise as displayed; bilinear, zero fill, same size -- as
    ``scipy.ndimage.rotate(img, degrees, reshape=False, order=1, mode="constant")``."""
    x, was_3d = _as_nchw(batch)
    n, _, h, w = x.shape
    deg = _finite_array(degrees, "degrees", n)
    res = _output(out, x.shape, x.dtype, was_3d, x)
    mats = _warp_mats(h, w, 1 if deg.ndim == 0 else n, deg)
    _warp(x, res, mats[0] if deg.ndim == 0 else mats)
    return _finish(res, was_3d)


def random_rotate(batch, max_degrees, rng=None, out=None):
    """Rotate each sample by an angle uniform in [-max_degrees, max_degrees] (or in a given
    (low, high) pair), as ``rotate``."""
    lo, hi = _range(max_degrees, "max_degrees")
    x, was_3d = _as_nchw(batch)
    n, _, h, w = x.shape
    deg = _rng(rng).uniform(lo, hi, size=n)
    res = _output(out, x.shape, x.dtype, was_3d, x)
    _augment.affine(x, res, _warp_mats(h, w, n, deg))
    return _finish(res, was_3d)


def random_zoom(batch, zoom_range, rng=None, out=None):
    """Scale each sample about its centre by a factor uniform in ``zoom_range`` ((low, high), or
    z for (1 - z, 1 + z)); > 1 magnifies. Bilinear, zero fill, same size."""
    lo, hi = _range(zoom_range, "zoom_range", 0.0, center=1.0)
    x, was_3d = _as_nchw(batch)
    n, _, h, w = x.shape
    z = _rng(rng).uniform(lo, hi, size=n)
    res = _output(out, x.shape, x.dtype, was_3d, x)
    _augment.affine(x, res, _warp_mats(h, w, n, zoom=z))
    return _finish(res, was_3d)


def random_affine(batch, degrees=0.0, translate=0.0, scale=None, rng=None, out=None):
    """Rotation (``degrees``: a or (low, high)), translation (``translate``: a fraction of the
    height/width, or a (fy, fx) pair; uniform in [-f, f]) and scaling (``scale``: (low, high) or
    None), one draw per sample in that order, composed about the image centre (torchvision's
    RandomAffine without shear); bilinear, zero fill."""
    dlo, dhi = _range(degrees, "degrees")
    if isinstance(translate, numbers.Real) and not isinstance(translate, bool):
        translate = (translate, translate)
    if not (isinstance(translate, (tuple, list)) and len(translate) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v <= 1
            for v in translate)):
        raise ValueError(f"translate: expected a fraction in [0, 1] or a pair of them, got "
                         f"{translate!r}")
    fy, fx = float(translate[0]), float(translate[1])
    slo, shi = (1.0, 1.0) if scale is None else _range(scale, "scale", 0.0)
    x, was_3d = _as_nchw(batch)
    n, _, h, w = x.shape
    g = _rng(rng)
    deg = g.uniform(dlo, dhi, size=n)
    ty = g.uniform(-fy * h, fy * h, size=n)
    tx = g.uniform(-fx * w, fx * w, size=n)
    z = g.uniform(slo, shi, size=n)
    res = _output(out, x.shape, x.dtype, was_3d, x)
    _augment.affine(x, res, _warp_mats(h, w, n, deg, z, ty, tx))
    return _finish(res, was_3d)


def _prob(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
    return float(p)


# -- composable objects ---------------------------------------------------------------------------
class Transform:
    """Base class: ``__call__(batch, rng=None)`` returns a new augmented batch."""

    def __call__(self, batch, rng=None):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, each drawing from the same rng."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}]: expected a callable (batch, rng) -> batch, got "
                                f"{type(t).__name__}")
        self.transforms = transforms

    def __call__(self, batch, rng=None):
        g = _rng(rng)
        for t in self.transforms:
            batch = t(batch, g)
        return batch


class RandomCrop(Transform):
    def __init__(self, size, padding=0):
        self.size = _pair(size, "size", 1)
        self.padding = _pair(padding, "padding", 0)

    def __call__(self, batch, rng=None):
        return random_crop(batch, self.size, self.padding, rng)


class RandomShift(Transform):
    def __init__(self, max_shift):
        self.max_shift = _pair(max_shift, "max_shift", 0)

    def __call__(self, batch, rng=None):
        return random_shift(batch, self.max_shift, rng)


class RandomHorizontalFlip(Transform):
    def __init__(self, p=0.5):
        self.p = _prob(p)

    def __call__(self, batch, rng=None):
        return random_hflip(batch, self.p, rng)


class GaussianNoise(Transform):
    def __init__(self, std, clip=None):
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not np.isfinite(std) \
                or std < 0:
            raise ValueError(f"std: expected a finite number >= 0, got {std!r}")
        self.std = float(std)
        self.clip = None if clip is None else tuple(float(v) for v in clip)

    def __call__(self, batch, rng=None):
        return gaussian_noise(batch, self.std, rng, self.clip)


class RandomRotation(Transform):
    """``random_rotate`` as a transform: angles uniform in [-max_degrees, max_degrees]."""

    def __init__(self, max_degrees):
        self.max_degrees = _range(max_degrees, "max_degrees")

    def __call__(self, batch, rng=None):
        return random_rotate(batch, self.max_degrees, rng)


class RandomZoom(Transform):
    def __init__(self, zoom_range):
        self.zoom_range = _range(zoom_range, "zoom_range", 0.0, center=1.0)

    def __call__(self, batch, rng=None):
        return random_zoom(batch, self.zoom_range, rng)


class RandomAffine(Transform):
    def __init__(self, degrees=0.0, translate=0.0, scale=None):
        random_affine(np.zeros((1, 1, 1, 1), np.float32), degrees, translate, scale, 0)  # checks
        self.degrees, self.translate, self.scale = degrees, translate, scale

    def __call__(self, batch, rng=None):
        return random_affine(batch, self.degrees, self.translate, self.scale, rng)
