"""Low-rank factorisation from a truncated SVD (numpy's LAPACK): Linear(in, out) becomes
Linear(in, r, bias=False) -> Linear(r, out); a k x k Conv2d becomes a k x k conv to r channels
then a 1 x 1 conv (the channel factorisation keeps the first conv's im2col GEMM and only shrinks
its output width, so it maps onto the same kernels; a spatial separable pair would need two passes
over the input). A layer is replaced only when its multiply-adds fall: r < in*out / (in+out)."""
import copy
import numbers

import numpy as np

from fastnn.nn.conv import Conv2d
from fastnn.nn.linear import Linear
from fastnn.nn.module import Sequential
from fastnn.prune._common import check_fraction, check_model, resolve_layers


def _pick_rank(s, rank, energy):
    if rank is not None:
        return min(int(rank), s.size)
    e = np.cumsum(s.astype(np.float64) ** 2)
    if e[-1] == 0:
        return 1
    return int(np.searchsorted(e / e[-1], energy - 1e-12) + 1)


def _factor(layer, r, u, s, vt):
    a = (np.sqrt(s[:r])[:, None] * vt[:r]).astype(np.float32)  # (r, in*taps)
    b = (u[:, :r] * np.sqrt(s[:r])[None, :]).astype(np.float32)  # (out, r)
    bias = layer.bias is not None
    if isinstance(layer, Linear):
        first = Linear(layer.in_features, r, bias=False)
        second = Linear(r, layer.out_features, bias=bias)
        first.weight.data[...] = a
        second.weight.data[...] = b
    else:
        first = Conv2d(layer.in_channels, r, layer.kernel_size, stride=layer.stride,
                       padding=layer.padding, dilation=layer.dilation, bias=False)
        second = Conv2d(r, layer.out_channels, 1, bias=bias)
        first.weight.data[...] = a.reshape(first.weight.data.shape)
        second.weight.data[...] = b.reshape(second.weight.data.shape)
    if bias:
        second.bias.data[...] = layer.bias.data
    return Sequential(first, second)


def low_rank(model, rank=None, energy=0.9, layers=None):
    """A new model whose Linear (and groups-1 Conv2d) layers are factorised (see the module doc).
    rank: the rank to keep (int >= 1) or None to keep the smallest rank holding ``energy`` of the
    squared singular values. Returns (new_model, report) with report[name] = {"rank", "energy",
    "macs_before", "macs_after", "replaced"} (MACs per output position)."""
    where = "low_rank"
    check_model(model, where)
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, numbers.Integral)
                             or rank < 1):
        raise ValueError(f"{where}: rank: expected an int >= 1 or None, got {rank!r}")
    energy = check_fraction(energy, "energy", where, upper_inclusive=True)
    names = [n for n, m in resolve_layers(model, layers, where)]
    new = copy.deepcopy(model)
    mods = dict(new.named_modules())
    report = {}
    for name in names:
        layer = mods[name]
        if isinstance(layer, Conv2d) and layer.groups != 1:
            continue
        w = layer.weight.data.reshape(layer.weight.data.shape[0], -1).astype(np.float64)
        out_f, in_f = w.shape
        u, s, vt = np.linalg.svd(w, full_matrices=False)
        r = _pick_rank(s, rank, energy)
        total = float(np.sum(s ** 2))
        kept = float(np.sum(s[:r] ** 2) / total) if total > 0 else 1.0
        replace = r * (in_f + out_f) < in_f * out_f
        report[name] = {"rank": r, "energy": kept, "macs_before": in_f * out_f,
                        "macs_after": r * (in_f + out_f) if replace else in_f * out_f,
                        "replaced": bool(replace)}
        if replace and not name:  # the model is the layer itself
            new = _factor(layer, r, u, s, vt)
        elif replace:
            parent_name, _, child = name.rpartition(".")
            parent = mods[parent_name] if parent_name else new
            setattr(parent, child, _factor(layer, r, u, s, vt))
    return new, report
