"""Calibration observers on known distributions, and the KL search against a plain numpy copy of
the algorithm (TensorRT's / MXNet's _get_optimal_threshold)."""
import numpy as np
import pytest

from fastnn import _C
from fastnn.quant import EntropyObserver, MinMaxObserver, PercentileObserver
from fastnn.quant.observers import make_observer

F32 = np.float32


def feed(obs, batches):
    for p in range(obs.passes):
        for b in batches:
            obs.observe(b, p)
    return obs


def test_minmax_exact_over_batches(rng):
    batches = [rng.uniform(-2, 3, (50, 7)).astype(F32) for _ in range(5)]
    obs = feed(MinMaxObserver("t"), batches)
    allv = np.concatenate(batches)
    assert obs.range() == (float(allv.min()), float(allv.max()))


def test_minmax_errors():
    with pytest.raises(ValueError, match="t: no calibration data"):
        MinMaxObserver("t").range()
    obs = MinMaxObserver("t")
    with pytest.raises(ValueError, match="t: contains NaN"):
        obs.observe(np.array([1.0, np.nan], F32))
    obs.observe(np.array([1.0, np.inf], F32))
    with pytest.raises(ValueError, match="not finite"):
        obs.range()


def test_percentile_uniform(rng):
    x = rng.uniform(0, 1, 1_000_000).astype(F32)
    lo, hi = feed(PercentileObserver("t", percentile=99.0), [x[:400_000], x[400_000:]]).range()
    width = 1.0 / 16384
    assert abs(hi - np.quantile(x, 0.99)) <= 2 * width
    assert abs(lo - np.quantile(x, 0.01)) <= 2 * width


def test_percentile_clips_outliers(rng):
    x = rng.standard_normal(200_000).astype(F32)
    x[:5] = [1000, 900, 800, -700, 650]  # 5 in 200k = 0.0025 %: clipped by the 99.99th
    lo, hi = feed(PercentileObserver("t", percentile=99.99), [x]).range()
    ref_lo, ref_hi = np.quantile(x, [0.0001, 0.9999])
    width = (x.max() - x.min()) / 16384
    assert abs(hi - ref_hi) <= 2 * width and abs(lo - ref_lo) <= 2 * width
    assert hi < 10 and lo > -10
    assert feed(PercentileObserver("t", percentile=100), [x]).range()[1] == pytest.approx(1000)


def np_entropy_bins(hist, nq):
    """Plain copy of MXNet's one-sided _get_optimal_threshold (bins kept), for comparison."""
    def smooth(p, eps=1e-4):
        z = p == 0
        nz = (~z).sum()
        if nz == 0:
            return None
        eps1 = eps * z.sum() / nz
        return np.where(z, eps, p - eps1)

    best, best_i = np.inf, len(hist)
    for i in range(nq, len(hist) + 1):
        sliced = hist[:i].astype(np.float64)
        p = sliced.copy()
        p[-1] += hist[i:].sum()
        merged = i // nq
        qb = np.array([sliced[j * merged:(j + 1) * merged].sum() for j in range(nq)])
        qb[-1] += sliced[nq * merged:].sum()
        q = np.zeros(i)
        for j in range(nq):
            start, stop = j * merged, (i if j == nq - 1 else (j + 1) * merged)
            norm = (p[start:stop] != 0).sum()
            if norm:
                q[start:stop] = qb[j] / norm
        q[p == 0] = 0
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        ps, qs = ps / ps.sum(), qs / qs.sum()
        kl = np.sum(ps * np.log(ps / qs))
        if kl < best:
            best, best_i = kl, i
    return best_i


@pytest.mark.parametrize("nq,bins", [(8, 64), (16, 100), (32, 255)])
def test_entropy_search_matches_reference(rng, nq, bins):
    for _ in range(3):
        x = np.abs(rng.standard_normal(5000) * rng.uniform(0.5, 2))
        x = np.concatenate([x, rng.uniform(0, 40, 20)])
        hist = np.histogram(x, bins=bins, range=(0, x.max()))[0].astype(np.int64)
        assert _C.entropy_calibration_bins(hist, nq) == np_entropy_bins(hist, nq)


def test_entropy_gaussian_with_outliers(rng):
    x = rng.standard_normal(300_000).astype(F32)
    x[:30] = rng.uniform(20, 50, 30)  # rare large values: KL clips them
    obs = feed(EntropyObserver("t"), [x[:150_000], x[150_000:]])
    t = obs.threshold()
    assert 2.5 < t < 10, t
    lo, hi = obs.range()
    assert (lo, hi) == (max(float(x.min()), -t), t)
    # a uniform nonnegative tensor keeps (nearly) its whole range
    u = rng.uniform(0, 6, 200_000).astype(F32)
    lo, hi = feed(EntropyObserver("u"), [u]).range()
    assert lo == 0.0 or lo == float(u.min())
    assert hi > 5.7


def test_entropy_search_errors():
    with pytest.raises(ValueError, match="hist"):
        _C.entropy_calibration_bins(np.zeros(10, np.int64), 4)
    with pytest.raises(ValueError, match="at least"):
        _C.entropy_calibration_bins(np.ones(10, np.int64), 16)


def test_make_observer_validation():
    with pytest.raises(ValueError, match="method"):
        make_observer("kl", "t")
    with pytest.raises(ValueError, match="percentile"):
        make_observer("percentile", "t", percentile=20)
    with pytest.raises(ValueError, match="bins"):
        make_observer("entropy", "t", bins=1)
    with pytest.raises(ValueError, match="minmax"):
        make_observer("minmax", "t", bins=100)
    assert isinstance(make_observer("entropy", "t", bins=512), EntropyObserver)
