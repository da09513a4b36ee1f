"""DataLoader: shuffled float32 mini-batches from in-memory arrays, without copying the dataset.

Each epoch draws one index permutation; each batch's rows are gathered from the dataset into a
batch-sized buffer (Cython, no GIL), then augmented and converted to float32 with an optional
per-channel affine map while the batch is in cache. Memory per epoch is O(N) int64 for the
permutation plus O(batch) for the buffers — the dataset itself is never copied, whatever its
dtype is (uint8 or float32; other dtypes are converted to float32 once, at construction).
"""
import math
import numbers

import numpy as np

from fastnn import _random
from fastnn.data import _loader

__all__ = ["DataLoader"]


def _int(v, name, minimum):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {v}")
    return int(v)


def _per_channel(v, name, positive):
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected a finite number or one per channel, got {v!r}")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name}: expected values > 0, got {v!r}")
    return arr


class DataLoader:
    """Iterate over ``(x_batch, y_batch)`` (or ``x_batch`` when ``y`` is None) for one epoch.

    Args:
        x: array of N samples, any sample shape (images as ``(N, C, H, W)`` or ``(N, H, W)``).
            uint8 and float32 are used as they are; other dtypes are converted to float32 once.
        y: None or N targets. Integer/bool labels come out as int64, float targets as float32.
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: a new random order each epoch.
        augment: None or a callable ``(batch, rng) -> batch`` (e.g. ``fastnn.data.augment.Compose``)
            applied to each gathered batch in the dataset's dtype, before conversion — so uint8
            images are cropped/flipped/noised as uint8, with zero (black) fill.
        seed: int seed of this loader's random stream; None takes one from fastnn's global
            generator at construction (so ``fastnn.manual_seed`` makes runs reproducible).
            Epoch ``e`` uses ``numpy.random.default_rng([seed, e])`` for its order and
            augmentation, so a run resumed at epoch ``e`` (``set_epoch``) repeats it exactly.
        scale: multiply samples by this; ``"auto"``: 1/255 for uint8 data, 1 otherwise.
        mean, std: optional normalisation after scaling, ``(x * scale - mean) / std``: a number,
            or one per channel (axis 1 of 4-d ``(N, C, H, W)`` data).
        reuse_buffers: yield the loader's own batch buffers, overwritten by the next batch (no
            allocation per batch; for a loop that consumes each batch before asking for the next,
            as ``fit`` does). Default False: every batch is a fresh array.

    Batches are float32 C-contiguous arrays of shape ``(m,) + sample_shape`` (after augment).
    """

    def __init__(self, x, y=None, batch_size=64, shuffle=True, drop_last=False, augment=None,
                 seed=None, scale="auto", mean=None, std=None, reuse_buffers=False):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"x: expected an array of samples (ndim >= 1), got shape {x.shape}")
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x: expected a numeric array, got dtype {x.dtype}")
        if x.dtype not in (np.uint8, np.float32):
            x = x.astype(np.float32)
        # Aligned too (np.ascontiguousarray keeps a misaligned buffer, e.g. np.frombuffer with
        # an offset): the Cython gathers read it through typed memoryviews.
        self._x = np.require(x, requirements=("C_CONTIGUOUS", "ALIGNED"))
        n = len(self._x)
        if y is not None:
            y = np.asarray(y)
            if y.ndim < 1 or len(y) != n:
                raise ValueError(f"y: expected {n} targets to match x, got shape {y.shape}")
            if y.dtype.kind in "biu":
                y = np.require(y, np.int64, ("C_CONTIGUOUS", "ALIGNED"))
            elif y.dtype.kind == "f":
                y = np.require(y, np.float32, ("C_CONTIGUOUS", "ALIGNED"))
            else:
                raise TypeError(f"y: expected integer labels or float targets, got dtype "
                                f"{y.dtype}")
        self._y = y
        self.batch_size = _int(batch_size, "batch_size", 1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if augment is not None and not callable(augment):
            raise TypeError(f"augment: expected None or a callable (batch, rng) -> batch, got "
                            f"{type(augment).__name__}")
        self.augment = augment
        self.seed = _random.next_seed() if seed is None else _int(seed, "seed", 0)
        self.epoch = 0
        self.reuse_buffers = bool(reuse_buffers)

        if isinstance(scale, str):
            if scale != "auto":
                raise ValueError(f"scale: expected 'auto' or a number, got {scale!r}")
            scale = 1.0 / 255.0 if self._x.dtype == np.uint8 else 1.0
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) \
                or not math.isfinite(scale) or scale == 0:
            raise ValueError(f"scale: expected 'auto' or a finite non-zero number, got {scale!r}")
        m = np.zeros(1) if mean is None else _per_channel(mean, "mean", False)
        s = np.ones(1) if std is None else _per_channel(std, "std", True)
        channels = max(m.size, s.size)
        if channels > 1:
            if self._x.ndim != 4 or self._x.shape[1] != channels or m.size not in (1, channels) \
                    or s.size not in (1, channels):
                raise ValueError(f"mean/std: per-channel values need 4-d (N, C, H, W) data with C "
                                 f"= {channels}; got data shape {self._x.shape}, {m.size} mean "
                                 f"and {s.size} std values")
        # (x * scale - mean) / std == x * (scale / std) + (-mean / std)
        self._a = np.ascontiguousarray(np.broadcast_to(float(scale) / s, channels), np.float32)
        self._b = np.ascontiguousarray(np.broadcast_to(-m / s, channels), np.float32)
        self._identity = (self._x.dtype == np.float32 and scale == 1.0 and mean is None
                          and std is None)

        self._x2d = self._x.reshape(n, int(np.prod(self._x.shape[1:], dtype=np.int64)))
        self._arange = np.arange(max(n, self.batch_size), dtype=np.int64)
        self._raw = None      # gather buffer in the data's dtype (augment path)
        self._out = {}        # sample shape -> float32 (batch_size, ...) buffer (reuse_buffers)
        self._ybuf = None

    # -- size and position ------------------------------------------------------------------------
    def __len__(self):
        n, bs = len(self._x), self.batch_size
        return n // bs if self.drop_last else -(-n // bs)

    @property
    def num_samples(self):
        return len(self._x)

    def set_epoch(self, epoch):
        """The next iteration runs epoch ``epoch`` (its order and augmentation)."""
        self.epoch = _int(epoch, "epoch", 0)

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state):
        seed = _int(state["seed"], "seed", 0)
        self.set_epoch(state["epoch"])
        self.seed = seed

    # -- iteration --------------------------------------------------------------------------------
    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        rng = np.random.default_rng([self.seed, epoch])
        n, bs = len(self._x), self.batch_size
        order = rng.permutation(n).astype(np.int64, copy=False) if self.shuffle \
            else self._arange[:n]
        for b in range(len(self)):
            idx = order[b * bs:min((b + 1) * bs, n)]
            xb = self._gather(idx, rng)
            if self._y is None:
                yield xb
            else:
                yield xb, self._labels(idx)

    def _buffer(self, sample_shape, m):
        if not self.reuse_buffers:
            return np.empty((m,) + sample_shape, np.float32)
        buf = self._out.get(sample_shape)
        if buf is None:
            buf = self._out[sample_shape] = np.empty((self.batch_size,) + sample_shape,
                                                     np.float32)
        return buf[:m]

    def _gather(self, idx, rng):
        m = len(idx)
        sample_shape = self._x.shape[1:]
        if self.augment is None and self._identity:
            out = self._buffer(sample_shape, m)
            _loader.gather_rows(self._x2d, idx, out.reshape(m, -1))
            return out
        # Gather first (memcpy of whole rows: many loads in flight), then convert in cache: about
        # twice as fast as converting while gathering from random rows of a large dataset.
        if self._raw is None:
            self._raw = np.empty((self.batch_size,) + sample_shape, self._x.dtype)
        raw = self._raw[:m]
        _loader.gather_rows(self._x2d, idx, raw.reshape(m, -1))
        if self.augment is None:
            out = self._buffer(sample_shape, m)
            self._convert(raw.reshape(m, -1), out, sample_shape)
            return out
        aug = self.augment(raw, rng)
        if not isinstance(aug, np.ndarray) or aug.dtype not in (np.uint8, np.float32):
            raise TypeError(f"augment: must return a uint8 or float32 numpy array, got "
                            f"{getattr(aug, 'dtype', type(aug).__name__)}")
        if aug.ndim < 1 or len(aug) != m:
            raise ValueError(f"augment: must return {m} samples, got shape {aug.shape}")
        aug = np.ascontiguousarray(aug)
        out = self._buffer(aug.shape[1:], m)
        if self._identity and aug.dtype == np.float32:
            np.copyto(out, aug)
        else:
            self._convert(aug.reshape(m, -1), out, aug.shape[1:])
        return out

    def _convert(self, src2d, out, sample_shape):
        c = self._a.size
        if c > 1 and (len(sample_shape) != 3 or sample_shape[0] != c):
            raise ValueError(f"mean/std: {c} per-channel values do not fit batch samples of shape "
                             f"{sample_shape}")
        m = len(src2d)
        _loader.gather_affine(src2d, self._arange[:m], out.reshape(m, -1), self._a, self._b)

    def _labels(self, idx):
        if not self.reuse_buffers:
            return self._y[idx]
        if self._ybuf is None:
            self._ybuf = np.empty((self.batch_size,) + self._y.shape[1:], self._y.dtype)
        out = self._ybuf[:len(idx)]
        np.take(self._y, idx, axis=0, out=out, mode="clip")  # idx already in range
        return out

    def __repr__(self):
        return (f"DataLoader(num_samples={len(self._x)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"augment={self.augment!r}, seed={self.seed})")
