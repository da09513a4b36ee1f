"""BatchNorm folding: ``fold_batchnorm(model)``.

In eval mode a BatchNorm after a Conv2d / Linear is an affine map per output channel,
``y = (z - mean) * gamma / sqrt(var + eps) + beta``, so it folds into the layer before it:
``W' = W * a[:, None, ...]`` and ``b' = (b - mean) * a + beta`` with ``a = gamma / sqrt(var + eps)``
(computed in float64, stored as float32). The folded model equals the unfolded one in eval mode up
to float32 rounding.

Folding happens inside every Sequential (nested ones included) where a BatchNorm1d / BatchNorm2d
with running statistics directly follows a Linear / Conv2d (groups == 1 or any groups: the fold is
per output channel) with matching channel counts, and anywhere in a graph model (nn.Model) where
a BatchNorm is the only consumer of such a layer's output (the BatchNorm node is dropped), and
inside Residual blocks. A BatchNorm that cannot be folded (no preceding
layer, no running statistics, in another container) stays, and runs in float.
"""
import copy

import numpy as np

from fastnn import nn
from fastnn.nn.graph import Model
from fastnn.nn.module import Module, Parameter, Residual, Sequential

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


def _fold_sequential(seq):
    for name, m in list(seq._modules.items()):
        if isinstance(m, (Sequential, Residual, Model)):
            new = _fold_any(m)
            if new is not m:
                setattr(seq, name, new)
    items = list(seq._modules.items())
    out = fold_pairs(items)
    if len(out) != len(items):
        for name, _ in items:
            delattr(seq, name)
        for j, (_, m) in enumerate(out):
            setattr(seq, str(j), m)
    return seq


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
    if isinstance(m, Sequential):
        return _fold_sequential(m)
    if isinstance(m, Model):
        return _fold_model(m)
    if isinstance(m, Residual):  # x + block(x): the block folds inside
        m.block = _fold_any(m.block)
    return m


def _fold_model(model):
    """Fold each BatchNorm node whose input is the only use of a Linear / Conv2d node's output
    (neither layer used by another node); the BatchNorm nodes are dropped. Nested Sequentials
    and Models fold inside."""
    nodes = model.nodes()
    for name, layer, _, _ in nodes:
        if isinstance(layer, (Sequential, Model)):
            setattr(model, name, _fold_any(layer))
    nodes = model.nodes()
    uses = {}
    for _, layer, _, _ in nodes:
        uses[id(layer)] = uses.get(id(layer), 0) + 1
    producer = {outs[0]: i for i, (_, _, _, outs) in enumerate(nodes) if len(outs) == 1}
    drop = {}
    for j, (_, bn, ins, _) in enumerate(nodes):
        if not _is_bn(bn) or len(ins) != 1 or ins[0] not in producer:
            continue
        i = producer[ins[0]]
        layer = nodes[i][1]
        readers, is_output = model.consumers(ins[0])
        if (readers == [j] and not is_output and uses[id(layer)] == 1 and uses[id(bn)] == 1
                and _foldable(layer, bn)):
            _fold_into(layer, bn)
            drop[j] = None
    return model.rebuild(drop) if drop else model
