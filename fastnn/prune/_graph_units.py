"""unit_prune on graph models: follow a pruned layer's units through the graph.

From the producer's output the units are followed to every consumer, as positions in the feature
(channel) dimension of each tensor they reach: unchanged through layers that act on each unit
separately (activations, Dropout, pooling, Identity), recorded at a BatchNorm (whose per-unit
state shrinks with them), expanded by a Flatten(1, -1) (channel c becomes features c*H*W ..
(c+1)*H*W - 1) and shifted by a Concat(dim=1) (by the widths of the inputs before it), until a
Linear / Conv2d takes them as inputs. A tensor that fans out is followed along every branch.
Units that reach an Add or Multiply (whose other operand keeps its width), a model output, a
Split, a Concat on another dimension or a layer unit_prune does not know are kept (the reason is
reported); so is a layer used by several nodes.
"""
import numpy as np

from fastnn.nn.activation import _Elementwise
from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d
from fastnn.nn.conv import Conv2d
from fastnn.nn.dropout import Dropout
from fastnn.nn.linear import Flatten, Linear
from fastnn.nn.merge import Add, Concat, Identity, Multiply
from fastnn.nn.pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d

_PASS = (_Elementwise, Dropout, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Identity)


class Kept(Exception):
    """The producer's units must stay (a model output, an Add...)."""


class Blocked(Exception):
    """The units reach a layer unit_prune cannot shrink."""


def node_of(model, layer):
    """The index of the one node that uses ``layer``, or raise Kept."""
    idx = [i for i, (_, m, _, _) in enumerate(model.nodes()) if m is layer]
    if len(idx) != 1:
        raise Kept(f"it is used by {len(idx)} nodes of the graph (shared weights)")
    return idx[0]


def follow(model, layer, shapes):
    """[("bn" | "consumer", name, module, positions)]: where the units of ``layer`` (a Linear /
    Conv2d node of ``model``) arrive, as arrays of positions, one per unit (Flatten: a row of
    H*W positions per unit). ``shapes``: ``model._node_shapes()``."""
    nodes = model.nodes()
    i = node_of(model, layer)
    units = layer.out_features if isinstance(layer, Linear) else layer.out_channels
    slot_shape = {}
    for k, s in enumerate(model.input_shapes):
        slot_shape[k] = s
    for (_, _, _, outs), shp in zip(nodes, shapes):
        slot_shape.update(zip(outs, shp))
    found = []
    todo = [(nodes[i][3][0], np.arange(units)[:, None])]
    while todo:
        slot, pos = todo.pop()
        readers, is_output = model.consumers(slot)
        if is_output:
            raise Kept("its units reach a model output")
        for j in readers:
            name, m, ins, outs = nodes[j]
            if isinstance(m, (Linear, Conv2d)):
                if isinstance(m, Conv2d) and m.groups != 1:
                    raise Blocked(f"its consumer {name} is a grouped Conv2d (groups={m.groups}), "
                                  "whose input channels cannot be removed")
                if isinstance(m, Conv2d) and pos.shape[1] != 1:
                    raise Blocked(f"its units reach the Conv2d {name} through a Flatten")
                if sum(1 for _, mm, _, _ in nodes if mm is m) != 1:
                    raise Kept(f"its consumer {name} is used by several nodes (shared weights)")
                found.append(("consumer", name, m, pos))
            elif isinstance(m, _PASS):
                todo.append((outs[0], pos))
            elif isinstance(m, (BatchNorm1d, BatchNorm2d)):
                if pos.shape[1] != 1:
                    raise Blocked(f"its units reach {name} through a Flatten")
                found.append(("bn", name, m, pos))
                todo.append((outs[0], pos))
            elif isinstance(m, Flatten):
                shp = slot_shape[slot]
                if m.start_dim != 1 or m.end_dim not in (-1, len(shp) - 1):
                    raise Blocked(f"its units pass through {name} (Flatten with start_dim="
                                  f"{m.start_dim}, end_dim={m.end_dim}); only Flatten(1, -1) is "
                                  "followed")
                hw = int(np.prod(shp[2:], dtype=np.int64))
                flat = (pos.reshape(units, -1)[:, :, None] * hw + np.arange(hw)).reshape(units, -1)
                todo.append((outs[0], flat))
            elif isinstance(m, Concat):
                nd = len(slot_shape[slot])
                if m.dim % nd != 1:
                    raise Blocked(f"its units reach {name}, a Concat on dim {m.dim} (only the "
                                  "channel/feature dim 1 is followed)")
                if pos.shape[1] != 1 and nd != 2:
                    raise Blocked(f"its flattened units reach {name}")
                k = list(ins).index(slot)
                offset = sum(slot_shape[s][1] for s in ins[:k])
                if ins.count(slot) != 1:
                    raise Blocked(f"it enters {name} more than once")
                todo.append((outs[0], pos + offset))
            elif isinstance(m, (Add, Multiply)):
                raise Kept(f"its output feeds {name} ({type(m).__name__}), whose other operand "
                           "keeps its width")
            else:
                raise Blocked(f"its outputs pass through {name} ({type(m).__name__}), which "
                              "unit_prune cannot follow")
    return found
