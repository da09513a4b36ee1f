"""k-means weight sharing: each clustered weight takes one of ``n_clusters`` shared values.

``Parameter.cluster`` holds (index int32 of the weight's shape, centroids float32 sorted); the
optimizers' ``step`` calls ``_C.cluster_step`` right after the fused update, which moves each
centroid by the summed update of its members and rewrites every member from its centroid."""
import numbers

import numpy as np

from fastnn import _C
from fastnn.prune._common import check_choice, check_model, display, resolve_layers

INITS = ("linear", "kmeans++", "density")


def _init_centroids(v, k, init, rng):
    lo, hi = float(v.min()), float(v.max())
    if init == "linear":
        return np.linspace(lo, hi, k)
    if init == "density":  # equal-count quantiles of the weights' distribution
        return np.quantile(v.astype(np.float64), (np.arange(k) + 0.5) / k)
    c = [float(v[rng.integers(v.size)])]  # kmeans++: D^2 sampling
    d2 = (v.astype(np.float64) - c[0]) ** 2
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:
            break
        c.append(float(v[rng.choice(v.size, p=d2 / total)]))
        d2 = np.minimum(d2, (v.astype(np.float64) - c[-1]) ** 2)
    return np.array(c)


def cluster_weights(model, n_clusters=16, layers=None, init="linear", *, max_iter=100, seed=0):
    """Share the weights of each Linear/Conv2d layer (``layers``: names or layer objects; None:
    all) among at most ``n_clusters`` values found by exact 1-D k-means. Pruned weights (mask 0)
    stay zero and are not a cluster. Returns a report: {layer name: {"clusters", "bits",
    "weights"}} (clusters used, bits per index, weights covered)."""
    where = "cluster_weights"
    check_model(model, where)
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral):
        raise TypeError(f"{where}: n_clusters: expected an int, got {n_clusters!r}")
    if not 1 <= int(n_clusters) <= 65536:
        raise ValueError(f"{where}: n_clusters: expected 1 to 65536, got {n_clusters!r}")
    check_choice(init, "init", INITS, where)
    found = resolve_layers(model, layers, where)
    rng = np.random.default_rng(seed)
    plans = []
    for name, layer in found:  # compute everything first: a failure leaves the model unchanged
        p = layer.weight
        keep = np.ones(p.data.shape, bool) if p.mask is None else np.asarray(p.mask) != 0
        v = p.data[keep]
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{where}: {display(name)}: weight has non-finite values")
        if v.size == 0:
            continue
        k = min(int(n_clusters), int(np.unique(v).size))
        c, _ = _C.kmeans1d(v, _init_centroids(v, k, init, rng), max_iter)
        c = np.unique(c.astype(np.float32))
        idx = _C.cluster_assign(p.data, c, p.mask)
        used = np.unique(idx[idx >= 0])
        remap = np.full(c.size, -1, np.int32)
        remap[used] = np.arange(used.size, dtype=np.int32)
        idx = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1).astype(np.int32)
        plans.append((name, p, idx, np.ascontiguousarray(c[used]), int(v.size)))
    report = {}
    for name, p, idx, c, n in plans:
        p.cluster = (idx, c)
        p.data[...] = np.where(idx >= 0, c[np.maximum(idx, 0)], 0).astype(np.float32)
        report[name] = {"clusters": int(c.size), "bits": max(1, int(np.ceil(np.log2(c.size)))),
                        "weights": n}
    return report


def strip_clustering(model):
    """Make the sharing permanent: the weights keep their shared values, the optimizers stop
    updating centroids (``Parameter.cluster`` becomes None). Returns the model."""
    check_model(model, "strip_clustering")
    for _, p in model.named_parameters():
        p.cluster = None
    return model


def cluster_step(params):
    """The optimizers' hook: centroid update and rewrite of every clustered parameter."""
    for p in params:
        if p.cluster is not None and p.requires_grad:
            _C.cluster_step(p.data, p.cluster[0], p.cluster[1])
