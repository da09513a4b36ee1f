"""compress.report: one table comparing the compression methods on a model."""
import os
import tempfile
import time

import numpy as np

from fastnn.compress._file import save_compressed
from fastnn.prune._common import PRUNABLE, check_model


def report(model, x, y, *, batch_size=256):
    """{"layers": {name: {"sparsity", "clusters", "rank", "bits_per_weight"}}, "accuracy",
    "file_bytes" (save_compressed), "seconds_per_sample"} for ``model`` on (x, y). ``rank`` is
    the inner width of a low_rank pair (its first layer), else None; bits per weight are those of
    the file (index + position streams of a shared layer, 32 or 16 otherwise)."""
    check_model(model, "report")
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"report: y: expected {len(x)} labels (one per sample), got {len(y)}")
    layers = {}
    for name, m in model.named_modules():
        if not isinstance(m, PRUNABLE):
            continue
        p = m.weight
        sparsity = float(np.mean(p.data == 0))
        clusters = None if p.cluster is None else int(p.cluster[1].size)
        rank = None
        if name.endswith(".0") and getattr(m, "bias", 1) is None:
            rank = int(p.data.shape[0])
        layers[name] = {"sparsity": sparsity, "clusters": clusters, "rank": rank}
    was = model.training
    model.eval()
    t0 = time.perf_counter()
    pred = np.concatenate([np.argmax(model(x[i:i + batch_size]), axis=1)
                           for i in range(0, len(x), batch_size)])
    secs = (time.perf_counter() - t0) / max(len(x), 1)
    model.train(was)
    with tempfile.TemporaryDirectory() as d:
        size = save_compressed(model, os.path.join(d, "m.fndc"))
    n_weights = sum(m.weight.data.size for n, m in model.named_modules() if isinstance(m, PRUNABLE))
    for v in layers.values():
        v["bits_per_weight"] = None if v["clusters"] is None else \
            (1 - v["sparsity"]) * max(1, int(np.ceil(np.log2(v["clusters"] + 1))))
    return {"layers": layers, "accuracy": float(np.mean(pred == y)), "file_bytes": size,
            "bits_per_weight_file": 8.0 * size / max(n_weights, 1), "seconds_per_sample": secs}
