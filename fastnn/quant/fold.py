"""BatchNorm folding: ``fold_batchnorm(model)``.

In eval mode a BatchNorm after a Conv2d / Linear is an affine map per output channel,
``y = (z - mean) * gamma / sqrt(var + eps) + beta``, so it folds into the layer before it:
``W' = W * a[:, None, ...]`` and ``b' = (b - mean) * a + beta`` with ``a = gamma / sqrt(var + eps)``
(computed in float64, stored as float32). The folded model equals the unfolded one in eval mode up
to float32 rounding.

Every container is read through its graph (Sequential, Residual, nn.Model, nested ones first):
a BatchNorm1d / BatchNorm2d with running statistics folds into the Linear / Conv2d (any groups: the
fold is per output channel) with matching channel counts whose output it is the only consumer of,
in the same container (neither layer shared); the BatchNorm node is dropped (``rebuild``). A
BatchNorm that cannot be folded (no preceding layer, no running statistics, in another container)
stays, and runs in float.
"""
import copy

import numpy as np

from fastnn import nn
from fastnn.nn.module import Module, Parameter

__all__ = ["fold_batchnorm", "fold_pairs"]


def _is_bn(m):
    return isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))


def _is_layer(m):
    return isinstance(m, (nn.Linear, nn.Conv2d))


def _out_channels(m):
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def _foldable(layer, bn):
    if not (_is_layer(layer) and _is_bn(bn)):
        return False
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        return False
    if isinstance(layer, nn.Linear) and type(bn).__name__ != "BatchNorm1d":
        return False
    if not isinstance(layer, nn.Linear) and type(bn).__name__ != "BatchNorm2d":
        return False
    return bn.num_features == _out_channels(layer)


def _fold_into(layer, bn):
    var = bn.running_var.astype(np.float64)
    mean = bn.running_mean.astype(np.float64)
    gamma = bn.weight.data.astype(np.float64) if bn.weight is not None else 1.0
    beta = bn.bias.data.astype(np.float64) if bn.bias is not None else 0.0
    a = gamma / np.sqrt(var + bn.eps)
    w = layer.weight.data.astype(np.float64)
    w = w * a.reshape((-1,) + (1,) * (w.ndim - 1))
    b = layer.bias.data.astype(np.float64) if layer.bias is not None else 0.0
    b = (b - mean) * a + beta
    layer.weight.data[...] = w.astype(np.float32)
    if layer.bias is None:
        layer.bias = Parameter(np.asarray(b, np.float32))
    else:
        layer.bias.data[...] = np.asarray(b, np.float32)


def fold_pairs(layers):
    """Fold in place every foldable (layer, BatchNorm) pair of the list ``[(name, module), ...]``;
    returns the list without the folded BatchNorms, each folded layer named ``"conv+bn"``."""
    out = []
    i = 0
    while i < len(layers):
        name, m = layers[i]
        if i + 1 < len(layers) and _foldable(m, layers[i + 1][1]):
            _fold_into(m, layers[i + 1][1])
            out.append((f"{name}+{layers[i + 1][0]}", m))
            i += 2
        else:
            out.append((name, m))
            i += 1
    return out


def fold_batchnorm(model):
    """A new float model (a deep copy; ``model`` is not changed) with every foldable BatchNorm
    folded into the Conv2d / Linear before it, in eval mode (see the module doc). Layers are
    renumbered inside each Sequential that lost a BatchNorm. Usable on its own: the result is an
    ordinary fastnn model (trainable, savable), equal to ``model`` in eval mode."""
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module, got {type(model).__name__}")
    new = copy.deepcopy(model)
    new.eval()
    return _fold_any(new)


def _fold_any(m):
    """``m`` with its BatchNorms folded: the containers inside first, then this container's own
    (layer, BatchNorm) node pairs; a container that changes is rebuilt (``m.rebuild``)."""
    g = m._graph
    if g is None:
        return m
    inner = {}
    for i, (layer, _, _) in enumerate(g.nodes):
        new = _fold_any(layer)
        if new is not layer:
            inner[i] = new
    if inner:
        m = m.rebuild(inner)
        g = m._graph
    uses = {}
    for layer, _, _ in g.nodes:
        uses[id(layer)] = uses.get(id(layer), 0) + 1
    producer = {outs[0]: i for i, (_, _, outs) in enumerate(g.nodes) if len(outs) == 1}
    drop = {}
    for j, (bn, ins, _) in enumerate(g.nodes):
        if not _is_bn(bn) or len(ins) != 1 or ins[0] not in producer:
            continue
        layer = g.nodes[producer[ins[0]]][0]
        readers, is_output = g.consumers(ins[0])
        if (readers == [j] and not is_output and uses[id(layer)] == 1 and uses[id(bn)] == 1
                and _foldable(layer, bn)):
            _fold_into(layer, bn)
            drop[j] = None
    return m.rebuild(drop) if drop else m
