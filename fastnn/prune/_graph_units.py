"""unit_prune's path-follower: one graph view for every model, and a pruned layer's units
followed through it.

``View(model)`` is the leaf view of any model (``nn.graph.expand``: every container -- Model,
Sequential, Residual, nested -- opened into its nodes; a Residual's join is a ``ResidualAdd``
node). Names are those of ``model.named_modules()`` ("2.block.0"). A module with children but no
graph (define-by-run) is one opaque node.

``follow`` goes from the producer's output to every consumer. It tracks the units as positions
in the feature (channel) dimension of each tensor they reach:

- unchanged through layers that act on each unit separately: activations, Dropout, pooling and
  Identity;
- recorded at a BatchNorm, whose per-unit state shrinks with them;
- expanded by a Flatten(1, -1): channel c becomes features c*H*W .. (c+1)*H*W - 1, with H*W
  from the traced shapes, or else from the consumer's in_features;
- shifted by a Concat(dim=1), by the widths of the inputs before it;

and so on until a Linear / Conv2d takes them as inputs. A tensor that fans out is followed along
every branch.

Some producers keep their units, with the reason reported: those whose units reach an Add, a
Multiply or a Residual's join (the other operand keeps its width), or a model output. A layer used
by several nodes is kept too. Units that reach a layer the follower does not know raise Blocked.
"""
import numpy as np

from fastnn.nn.activation import _Elementwise
from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d
from fastnn.nn.conv import Conv2d
from fastnn.nn.dropout import Dropout
from fastnn.nn.graph import expand
from fastnn.nn.linear import Flatten, Linear
from fastnn.nn.merge import Add, Concat, Identity, Multiply, ResidualAdd
from fastnn.nn.pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from fastnn.nn import _calls
from fastnn.prune._common import display

_PASS = (_Elementwise, Dropout, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Identity)
FINAL = "it is the model's final layer (its outputs are kept)"


class Kept(Exception):
    """The producer's units must stay (a model output, an Add...)."""


class Blocked(Exception):
    """The units reach a layer unit_prune cannot shrink."""


class View:
    """Leaf nodes ``(name, module, input slots, output slots)`` in execution order; slots
    0 .. n_inputs-1 are the model's inputs. ``outputs``: the slots the model returns."""

    def __init__(self, model):
        self.n_inputs, self.nodes, self.outputs = expand(model)
        self._readers = {}
        for i, (_, _, ins, _) in enumerate(self.nodes):
            for s in ins:
                self._readers.setdefault(s, []).append(i)

    def readers(self, slot):
        return self._readers.get(slot, [])

    def shapes(self, input_shapes):
        """Each slot's shape in one inference-mode forward of a zero batch of 2 samples
        (``input_shapes``: one sample's shape per model input)."""
        vals = {k: np.zeros((2,) + tuple(shp), np.float32) for k, shp in enumerate(input_shapes)}
        with _calls.inference_mode():
            for _, m, ins, outs in self.nodes:
                args = [vals[s] for s in ins]
                out = m.forward(*args)
                for s, o in zip(outs, out if isinstance(out, tuple) else (out,)):
                    vals[s] = o
        return {s: v.shape for s, v in vals.items()}


def _uses(view, module):
    return sum(1 for _, m, _, _ in view.nodes if m is module)


def follow(view, layer, name, shapes=None):
    """[("bn" | "consumer", name, module, positions)]: where the units of ``layer`` arrive.
    ``positions[u]`` are unit u's positions in that tensor's dimension 1 (a row of H*W for a
    Flatten). ``shapes``: slot -> shape from ``View.shapes``, or None (a Flatten's H*W then comes
    from the consumer's in_features)."""
    at = [i for i, (_, m, _, _) in enumerate(view.nodes) if m is layer]
    if len(at) != 1:
        raise Kept(f"it is used by {len(at)} nodes of the graph (shared weights)")
    units = layer.out_features if isinstance(layer, Linear) else layer.out_channels
    found = []
    # (slot, positions (units, k), width of dim 1, k still to be expanded by an unknown H*W)
    todo = [(view.nodes[at[0]][3][0], np.arange(units)[:, None], units, False)]
    while todo:
        slot, pos, width, pending = todo.pop()
        if slot in view.outputs:
            raise Kept(FINAL)
        for j in view.readers(slot):
            cname, m, ins, outs = view.nodes[j]
            shown = display(cname)
            if isinstance(m, (Linear, Conv2d)):
                if isinstance(m, Conv2d):
                    if m.groups != 1:
                        raise Blocked(f"its consumer {shown} is a grouped Conv2d (groups="
                                      f"{m.groups}), whose input channels cannot be removed")
                    if pending or pos.shape[1] != 1:
                        raise Blocked(f"its outputs reach the Conv2d {shown} through a Flatten")
                if _uses(view, m) != 1:
                    raise Kept(f"its consumer {shown} is used by several nodes (shared weights)")
                n_in = m.in_features if isinstance(m, Linear) else m.in_channels
                if pending:
                    if n_in % width:
                        raise Blocked(f"its {width} channels cannot feed the {n_in} inputs of "
                                      f"{shown} through a Flatten (not a multiple)")
                    hw = n_in // width
                    pos = (pos[:, :, None] * hw + np.arange(hw)).reshape(units, -1)
                    width *= hw
                if n_in != width:
                    raise Blocked(f"its consumer {shown} takes {n_in} inputs, but {width} arrive "
                                  "from it")
                found.append(("consumer", cname, m, pos))
            elif isinstance(m, _PASS):
                todo.append((outs[0], pos, width, pending))
            elif isinstance(m, (BatchNorm1d, BatchNorm2d)):
                if pending:
                    raise Blocked(f"its units reach {shown} through a Flatten of unknown size "
                                  "(pass input_shape)")
                if m.num_features != width:
                    raise Blocked(f"{shown} normalises {m.num_features} features, but {width} "
                                  "arrive from it")
                found.append(("bn", cname, m, pos))
                todo.append((outs[0], pos, width, pending))
            elif isinstance(m, Flatten):
                if m.start_dim != 1 or m.end_dim != -1:
                    raise Blocked(f"its outputs pass through {shown} (Flatten with start_dim="
                                  f"{m.start_dim}, end_dim={m.end_dim}); only Flatten(1, -1) is "
                                  "followed")
                if shapes is None:
                    todo.append((outs[0], pos, width, True))
                    continue
                shp = shapes[slot]
                if len(shp) < 2 or shp[1] != width:
                    raise Blocked(f"the shape trace gives {shown} an input of shape {shp}, not "
                                  f"{width} channels from {display(name)}")
                hw = int(np.prod(shp[2:], dtype=np.int64))
                flat = (pos[:, :, None] * hw + np.arange(hw)).reshape(units, -1)
                todo.append((outs[0], flat, width * hw, pending))
            elif isinstance(m, Concat):
                if shapes is None:
                    raise Blocked(f"its units reach {shown}, a Concat: pass input_shape")
                nd = len(shapes[slot])
                if m.dim % nd != 1 or ins.count(slot) != 1:
                    raise Blocked(f"its units reach {shown}, a Concat on dim {m.dim} (only the "
                                  "channel/feature dim 1 is followed, each input once)")
                k = ins.index(slot)
                offset = sum(shapes[s][1] for s in ins[:k])
                todo.append((outs[0], pos + offset, sum(shapes[s][1] for s in ins), pending))
            elif isinstance(m, ResidualAdd):
                if ins.index(slot) == 0:
                    raise Kept(f"its output feeds the Residual {shown} (x + block(x)), whose "
                               "width is kept")
                raise Kept("its output is a Residual block's output (added to the block's input)")
            elif isinstance(m, (Add, Multiply)):
                raise Kept(f"its output feeds {shown} ({type(m).__name__}), whose other operand "
                           "keeps its width")
            else:
                raise Blocked(f"its outputs pass through {shown} ({type(m).__name__}), which "
                              "unit_prune cannot follow")
    return found
