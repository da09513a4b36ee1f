"""Calibration observers: the activation range of one tensor, seen over calibration batches.

Every observer turns what it saw into a range ``(lo, hi)``; :func:`choose_qparams` turns a range
into uint8 ``(scale, zero_point)`` (zero always exactly representable). The statistics run in C++
(``fastnn._C``): min/max, histograms and the KL-divergence search; Python only keeps the state.

- :class:`MinMaxObserver` (``method="minmax"``): the smallest and largest value seen. One pass.
- :class:`PercentileObserver` (``method="percentile"``): the ``percentile``-th and
  ``(100 - percentile)``-th percentiles of all values seen (default 99.99: the top and bottom 0.01 %
  are clipped), read from a ``bins``-bin histogram over the min/max range with linear
  interpolation inside a bin. Two passes (the first finds the histogram's range).
- :class:`EntropyObserver` (``method="entropy"``): TensorRT's KL-divergence calibration: a
  ``bins``-bin (default 2048) histogram of ``|x|`` over ``[0, max|x|]``; the threshold ``T`` is the
  bin edge whose clipped distribution loses the least information (KL divergence) when quantized
  to ``num_quantized_bins`` levels: 255 for a tensor with no negative value (uint8 spends every
  level on ``[0, T]``), 128 otherwise (the levels are shared by both signs). The first bin's
  count is replaced by the second's before the search (as NVIDIA's pytorch-quantization does):
  the spike of exact zeros after a ReLU would otherwise dominate P and pull T far down. The range
  is ``[max(min, -T), min(max, T)]``. Two passes.
"""
import numpy as np

from fastnn import _C

__all__ = ["MinMaxObserver", "PercentileObserver", "EntropyObserver", "make_observer",
           "choose_qparams", "METHODS"]


def choose_qparams(lo, hi):
    """uint8 ``(scale, zero_point)`` for the range ``[lo, hi]``: the range is widened to include
    0, ``scale = max((hi - lo) / 255, eps32)`` (float32), ``zero_point = round(-lo / scale)``
    clamped to [0, 255]. One definition, in C++, shared with dynamic quantization."""
    return _C.choose_qparams_u8(float(lo), float(hi))


class MinMaxObserver:
    """Running min and max (NaN is an error: a ValueError naming the tensor)."""

    passes = 1

    def __init__(self, name="x"):
        self.name = name
        self.lo = np.inf
        self.hi = -np.inf

    def observe(self, x, pass_index=0):
        if pass_index == 0:
            lo, hi = _C.minmax_f32(x, self.name)
            self.lo = min(self.lo, lo)
            self.hi = max(self.hi, hi)

    def _check(self):
        if not self.lo <= self.hi:
            raise ValueError(f"{self.name}: no calibration data was observed")
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            raise ValueError(f"{self.name}: calibration values are not finite "
                             f"(range [{self.lo}, {self.hi}])")

    def range(self):
        self._check()
        return float(self.lo), float(self.hi)


class _HistogramObserver(MinMaxObserver):
    passes = 2
    absval = False

    def __init__(self, name="x", bins=2048):
        super().__init__(name)
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ValueError(f"bins: expected an int >= 2, got {bins!r}")
        self.bins = int(bins)
        self.hist = None

    def _hist_range(self):
        return self.lo, self.hi

    def observe(self, x, pass_index=0):
        if pass_index == 0:
            return super().observe(x)
        if self.hist is None:
            self._check()
            self.hist = np.zeros(self.bins, np.int64)
        lo, hi = self._hist_range()
        _C.histogram_f32(x, lo, hi, self.hist, self.absval)


class PercentileObserver(_HistogramObserver):
    """Range ``[P(100 - percentile), P(percentile)]`` of the values seen (see module doc)."""

    def __init__(self, name="x", percentile=99.99, bins=16384):
        super().__init__(name, bins)
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) \
                or not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile: expected a number in (50, 100], got {percentile!r}")
        self.percentile = float(percentile)

    def _quantile(self, frac):
        # Linear interpolation inside the bin where the cumulative count crosses frac * total.
        cum = np.cumsum(self.hist)
        target = frac * cum[-1]
        b = int(np.searchsorted(cum, target, side="left"))
        b = min(b, self.bins - 1)
        before = cum[b - 1] if b else 0
        inside = self.hist[b]
        t = (target - before) / inside if inside else 0.0
        width = (self.hi - self.lo) / self.bins
        return self.lo + (b + min(max(t, 0.0), 1.0)) * width

    def range(self):
        self._check()
        if self.hist is None or self.hist.sum() == 0:
            raise ValueError(f"{self.name}: the histogram pass saw no data")
        if self.hi == self.lo:
            return float(self.lo), float(self.hi)
        p = self.percentile / 100.0
        lo = max(self.lo, self._quantile(1.0 - p))
        hi = min(self.hi, self._quantile(p))
        return float(lo), float(max(hi, lo))


class EntropyObserver(_HistogramObserver):
    """KL-divergence (TensorRT) threshold over a histogram of |x| (see module doc)."""

    absval = True

    def __init__(self, name="x", bins=2048):
        super().__init__(name, bins)

    def _hist_range(self):
        return 0.0, max(abs(self.lo), abs(self.hi))

    def threshold(self):
        """The clipping threshold T chosen by the KL search."""
        amax = self._hist_range()[1]
        if amax == 0.0:
            return 0.0
        nq = 255 if self.lo >= 0 else 128
        nq = min(nq, self.bins)
        hist = self.hist.copy()
        hist[0] = hist[1]  # as NVIDIA's calibrator: the zeros of a ReLU would dominate P
        i = _C.entropy_calibration_bins(hist, nq)
        return amax * i / self.bins

    def range(self):
        self._check()
        if self.hist is None or self.hist.sum() == 0:
            raise ValueError(f"{self.name}: the histogram pass saw no data")
        t = self.threshold()
        return float(max(self.lo, -t)), float(min(self.hi, t))


METHODS = {"minmax": MinMaxObserver, "percentile": PercentileObserver,
           "entropy": EntropyObserver}


def make_observer(method, name, **options):
    """A fresh observer for ``method`` ('minmax' | 'percentile' | 'entropy'); ``options``:
    ``percentile`` (percentile only), ``bins`` (percentile and entropy)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    cls = METHODS[method]
    opts = {k: v for k, v in options.items() if v is not None}
    if method == "minmax":
        if opts:
            raise ValueError(f"method='minmax' takes no options, got {sorted(opts)}")
        return cls(name)
    allowed = {"bins", "percentile"} if method == "percentile" else {"bins"}
    bad = set(opts) - allowed
    if bad:
        raise ValueError(f"method={method!r} does not take {sorted(bad)}")
    return cls(name, **opts)
