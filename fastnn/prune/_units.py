"""unit_prune: remove whole output neurons / channels and physically shrink the layers.

The model is read as chains of layers (a Sequential, nested Sequentials flattened; a Residual's
block is a chain of its own whose output feeds the add); a graph model (nn.Model) is followed
node by node (_graph_units.py: fan-out, Concat offsets, Add keeps). A pruned layer's outputs travel along
its chain to the next Linear/Conv2d (the consumer), through layers that act on each unit
separately -- activations, Dropout, pooling (which pass them through), BatchNorm (whose
per-unit parameters and statistics shrink with them) and a Flatten (which turns channel c of an
(N, C, H, W) map into the H*W inputs c*H*W .. (c+1)*H*W - 1 of the next Linear).
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.activation import _Elementwise
from fastnn.nn.dropout import Dropout
from fastnn.nn.linear import Flatten, Linear
from fastnn.nn.graph import Model
from fastnn.nn.module import Residual, Sequential
from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d
from fastnn.nn.conv import Conv2d
from fastnn.nn.pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from fastnn.prune import _graph_units
from fastnn.prune._common import (PRUNABLE, check_choice, check_fraction, check_mask,
                                  check_model, display, masked_weight, resolve_layers)

__all__ = ["unit_prune", "UnitPruneReport"]

CRITERIA = {"l1": 1, "l2": 2}


class _Kept(Exception):
    """A layer whose outputs are kept by design (the final layer, a Residual's input or output)."""


class _Blocked(Exception):
    """A layer whose consumer cannot be shrunk."""


def _chains(model):
    """[(chain, kind)]: chain = [(name, module)] in execution order; kind 'model' or 'block'."""
    chains = []

    def build(root, root_name, kind):
        chain = []

        def visit(m, name):
            if isinstance(m, Sequential):
                for cname, c in m.named_children():
                    visit(c, f"{name}.{cname}" if name else cname)
            else:
                chain.append((name, m))
                if isinstance(m, Residual):
                    build(m.block, f"{name}.block" if name else "block", "block")

        visit(root, root_name)
        chains.append((chain, kind))

    build(model, "", "model")
    return chains


def _width(layer):
    return layer.out_features if isinstance(layer, Linear) else layer.out_channels


def _plan_path(chain, kind, i):
    """Follow producer chain[i]'s outputs to their consumer: (consumer index, path of
    ("bn", name, layer) / ("flatten", name, layer) steps). Raises _Kept or _Blocked."""
    weighted = PRUNABLE
    passthrough = (_Elementwise, Dropout, MaxPool2d, AvgPool2d, GlobalAvgPool2d)
    norms = (BatchNorm1d, BatchNorm2d)
    if kind == "model" and not any(isinstance(m, weighted + (Residual,)) for _, m in chain[i + 1:]):
        raise _Kept("it is the model's final layer (its outputs are kept)")
    path = []
    for j in range(i + 1, len(chain)):
        name, m = chain[j]
        if isinstance(m, weighted):
            if isinstance(m, Conv2d):
                if m.groups != 1:
                    raise _Blocked(f"its consumer {display(name)} is a grouped Conv2d "
                                   f"(groups={m.groups}), whose input channels cannot be removed")
                if any(step[0] == "flatten" for step in path):
                    raise _Blocked(f"its outputs reach the Conv2d {display(name)} through a "
                                   "Flatten")
            return j, path
        if isinstance(m, passthrough):
            continue
        if isinstance(m, norms):
            path.append(("bn", name, m))
            continue
        if isinstance(m, Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise _Blocked(f"its outputs pass through {display(name)} (Flatten with "
                               f"start_dim={m.start_dim}, end_dim={m.end_dim}); only "
                               "Flatten(1, -1) is followed")
            path.append(("flatten", name, m))
            continue
        if isinstance(m, Residual):
            raise _Kept(f"its output feeds the Residual {display(name)} (x + block(x)), whose "
                        "width is kept")
        raise _Blocked(f"its outputs pass through {display(name)} ({type(m).__name__}), which "
                       "unit_prune cannot follow")
    if kind == "block":
        raise _Kept("its output is a Residual block's output (added to the block's input)")
    raise _Kept("it is the model's final layer (its outputs are kept)")


def _flatten_blocks(path, consumer, consumer_name, units, trace, producer_name):
    """Per Flatten in the path, the number of features each unit becomes (H*W)."""
    flats = [step for step in path if step[0] == "flatten"]
    if not flats:
        return {}
    blocks = {}
    if trace is not None:
        for _, name, f in flats:
            shape = trace.get(id(f))
            if shape is None or len(shape) < 2 or shape[1] != units:
                raise _Blocked(f"the shape trace gives {display(name)} an input of shape "
                               f"{shape}, not {units} channels from {display(producer_name)}")
            blocks[id(f)] = int(np.prod(shape[2:], dtype=np.int64))
            units *= blocks[id(f)]
        return blocks
    # Without a trace: every layer in the path keeps the unit count, so the consumer's inputs are
    # units * H * W -- the first Flatten gets H * W, any later one (on a 2-D input) 1.
    n_in = consumer.in_features
    if n_in % units:
        raise _Blocked(f"its {units} channels cannot feed the {n_in} inputs of "
                       f"{display(consumer_name)} through a Flatten (not a multiple)")
    blocks[id(flats[0][2])] = n_in // units
    for _, _, f in flats[1:]:
        blocks[id(f)] = 1
    return blocks


def _trace(model, input_shape):
    """Input shape of every Flatten in one eval-mode forward of a zero batch of 2 samples."""
    if isinstance(input_shape, numbers.Integral):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in input_shape):
        raise TypeError(f"unit_prune: input_shape: expected a tuple of positive ints (one "
                        f"sample's shape), got {input_shape!r}")
    shape = tuple(int(s) for s in input_shape)
    flats = [m for m in model.modules() if isinstance(m, Flatten)]
    saved = [(m, m.training) for m in model.modules()]
    before = {id(f): f._shape for f in flats}
    try:
        model.eval()
        model(np.zeros((2,) + shape, np.float32))
        return {id(f): f._shape for f in flats}
    except (ValueError, TypeError) as e:
        raise ValueError(f"unit_prune: input_shape: a forward on a batch of shape "
                         f"{(2,) + shape} failed: {e}") from None
    finally:
        for m, mode in saved:
            object.__setattr__(m, "training", mode)
        for f in flats:
            f._shape = before[id(f)]


class UnitPruneReport(dict):
    """``{layer name: {"type", "before", "after", "removed": [indices]}}`` for the pruned layers,
    plus ``"skipped"``: {layer name: reason} for layers kept by design; ``print`` shows a table."""

    def __str__(self):
        lines = [f"{'layer':<16} {'type':<8} {'before':>7} {'after':>7}"]
        for name, e in self.items():
            if name != "skipped":
                lines.append(f"{display(name):<16} {e['type']:<8} {e['before']:>7} {e['after']:>7}")
        for name, why in self.get("skipped", {}).items():
            lines.append(f"{display(name):<16} kept: {why}")
        return "\n".join(lines)


def _take(a, index, axis):
    return np.ascontiguousarray(np.take(a, index, axis=axis))


def unit_prune(model, amount, *, criterion="l1", layers=None, input_shape=None):
    """Remove whole output units -- neurons of Linear layers, output channels of Conv2d layers --
    of smallest incoming-weight norm, physically shrinking each pruned layer and the layers that
    consume its outputs (the next Linear/Conv2d's inputs, a BatchNorm in between), so the result
    is a smaller dense model that trains and runs as any other.

    amount: fraction of each selected layer's units removed, in [0, 1): ``round(amount * units)``
        of them (at least one unit is always kept), those with the smallest L1 (``criterion=
        "l1"``) or L2 (``"l2"``) norm of their incoming weights (mask applied); ties go to the
        lower index. Norms are taken on the model as given, before any layer shrinks.
    layers: None -- every Linear/Conv2d whose outputs can be removed: the model's final layer
        (its outputs are the classes) and layers whose output feeds a Residual's add (the block
        input or the block output) are kept and listed under ``"skipped"`` -- or a list of
        layer names / layer objects, each of which must be prunable (else ValueError).
    input_shape: one sample's shape (e.g. (1, 28, 28)), used to trace the model with one forward
        on zeros (eval mode) and read the shape each Flatten sees. Without it a Flatten between
        a Conv2d and a Linear is resolved from the Linear's in_features (= channels * H * W).

    A layer whose outputs cannot be followed to a consumer it knows how to shrink (an unknown
    layer in between, a grouped Conv2d, a Flatten with other dims, a custom container) raises
    ValueError naming the layer and why. All checks run before anything changes: on error the
    model is left as it was.

    The Parameter objects stay the same (their ``data``, ``grad`` and ``mask`` arrays are
    replaced with smaller ones): an optimizer built before the pruning refuses to step (ValueError
    "shape changed ... since the optimizer was built") -- build a new one to fine-tune. Returns a
    ``UnitPruneReport``.
    """
    where = "unit_prune"
    check_model(model, where)
    amount = check_fraction(amount, "amount", where)
    check_choice(criterion, "criterion", tuple(CRITERIA), where)
    selected = resolve_layers(model, layers, where)
    explicit = layers is not None
    for name, layer in selected:
        for pname in ("weight", "bias"):
            p = getattr(layer, pname, None)
            if p is not None:
                check_mask(p, f"{display(name)}.{pname}", where)
    graph = isinstance(model, Model)
    trace = _trace(model, input_shape) if input_shape is not None and not graph else None
    shapes = model._node_shapes() if graph else None

    # Where every selected layer sits.
    position = {}
    for chain, kind in ([] if graph else _chains(model)):
        for i, (_, m) in enumerate(chain):
            position.setdefault(id(m), (chain, kind, i))

    report = UnitPruneReport()
    skipped = {}
    rows = {}  # id(layer) -> kept output units
    cols, bn_drop = {}, {}  # id(consumer) -> removed input positions; id(bn) -> removed features
    owners = {}  # id(layer) -> (name, layer) for everything that changes
    for name, layer in selected:
        if graph:
            try:
                arrivals = _graph_units.follow(model, layer, shapes)
            except _graph_units.Kept as e:
                if explicit:
                    raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") \
                        from None
                skipped[name] = str(e)
                continue
            except _graph_units.Blocked as e:
                raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") \
                    from None
            keep, removed = _choose(layer, amount, criterion)
            for kind_, cname, m, pos in arrivals:
                gone = pos[removed].reshape(-1)
                (bn_drop if kind_ == "bn" else cols).setdefault(id(m), set()).update(
                    gone.tolist())
                owners[id(m)] = (cname, m)
            rows[id(layer)] = keep
            owners[id(layer)] = (name, layer)
            report[name] = {"type": type(layer).__name__, "before": _width(layer),
                            "after": int(keep.size), "removed": removed.tolist()}
            continue
        if id(layer) not in position:
            raise ValueError(f"{where}: layer {display(name)}: it sits inside a container "
                             "unit_prune cannot follow (only Sequential and Residual are)")
        chain, kind, i = position[id(layer)]
        units = _width(layer)
        try:
            j, path = _plan_path(chain, kind, i)
            cname, consumer = chain[j]
            blocks = _flatten_blocks(path, consumer, cname, units, trace, name) if isinstance(
                consumer, Linear) else {}
        except _Kept as e:
            if explicit:
                raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") from None
            skipped[name] = str(e)
            continue
        except _Blocked as e:
            raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") from None
        keep, removed = _choose(layer, amount, criterion)
        # Follow the kept units along the path; every width on the way must match.
        feat, width = keep, units
        for kind_, bname, m in path:
            if kind_ == "bn":
                if m.num_features != width:
                    raise ValueError(f"{where}: layer {display(name)} cannot lose units: "
                                     f"{display(bname)} normalises {m.num_features} features, "
                                     f"but {width} arrive from it")
                bn_drop[id(m)] = set(range(width)) - set(feat.tolist())
                owners[id(m)] = (bname, m)
            else:
                hw = blocks[id(m)]
                feat = (feat[:, None] * hw + np.arange(hw)[None, :]).reshape(-1)
                width *= hw
        n_in = consumer.in_features if isinstance(consumer, Linear) else consumer.in_channels
        if n_in != width:
            raise ValueError(f"{where}: layer {display(name)} cannot lose units: its consumer "
                             f"{display(cname)} takes {n_in} inputs, but {width} arrive from it")
        rows[id(layer)] = keep
        owners[id(layer)] = (name, layer)
        cols[id(consumer)] = set(range(n_in)) - set(feat.tolist())
        owners[id(consumer)] = (cname, consumer)
        report[name] = {"type": type(layer).__name__, "before": units, "after": int(keep.size),
                        "removed": removed.tolist()}
    if not rows:
        raise ValueError(f"{where}: model: no layer whose units can be removed ("
                         + "; ".join(f"{display(n)}: {why}" for n, why in skipped.items()) + ")")
    if skipped:
        report["skipped"] = skipped

    # Commit: build every new array first, then swap them in (nothing can fail after staging).
    staged = []
    for key, (name, m) in owners.items():
        if key in bn_drop:
            staged.append(("bn", m, _shrunk_bn(m, _kept(m.num_features, bn_drop[key]))))
        else:
            n_in = m.in_features if isinstance(m, Linear) else m.in_channels
            staged.append(("layer", m, _shrunk_layer(
                m, rows.get(key), None if key not in cols else _kept(n_in, cols[key]))))
    for kind_, m, new in staged:
        (_commit_bn if kind_ == "bn" else _commit_layer)(m, new)
    return report


def _choose(layer, amount, criterion):
    """(kept, removed) output units of ``layer``, both sorted: the round(amount * units) of
    smallest incoming-weight norm go (ties: the lower index), at least one stays."""
    units = _width(layer)
    norms = _C.unit_norms(masked_weight(layer.weight), CRITERIA[criterion])
    n_remove = min(round(amount * units), units - 1)
    order = np.argsort(norms, kind="stable")
    return np.sort(order[n_remove:]), np.sort(order[:n_remove])


def _kept(n, removed):
    return np.setdiff1d(np.arange(n), np.fromiter(removed, np.int64, len(removed)))


def _shrunk_layer(m, keep_rows, keep_cols):
    out = {}
    for pname in ("weight", "bias"):
        p = getattr(m, pname, None)
        if p is None:
            continue
        arrays = {"data": p.data, "mask": p.mask}
        for k, a in arrays.items():
            if a is None:
                continue
            if keep_rows is not None:
                a = _take(a, keep_rows, 0)
            if keep_cols is not None and pname == "weight":
                a = _take(a, keep_cols, 1)
            arrays[k] = np.ascontiguousarray(a, dtype=np.float32)
        out[pname] = arrays
    is_linear = isinstance(m, Linear)
    rows = m.out_features if is_linear else m.out_channels
    cols = m.in_features if is_linear else m.in_channels
    out["sizes"] = (rows if keep_rows is None else int(keep_rows.size),
                    cols if keep_cols is None else int(keep_cols.size))
    return out


def _commit_layer(m, new):
    for pname in ("weight", "bias"):
        if pname in new:
            p = getattr(m, pname)
            p.data = new[pname]["data"]
            p.grad = np.zeros_like(p.data)
            p.mask = new[pname]["mask"]
    rows, cols = new["sizes"]
    if isinstance(m, Linear):
        m.out_features, m.in_features = rows, cols
    else:
        m.out_channels, m.in_channels = rows, cols
    m._x = None  # a cached forward input has the old width


def _shrunk_bn(m, keep):
    out = {}
    for pname in ("weight", "bias"):
        p = getattr(m, pname, None)
        if p is not None:
            out[pname] = (_take(p.data, keep, 0),
                          None if p.mask is None else _take(p.mask, keep, 0))
    for bname in ("running_mean", "running_var"):
        b = m._buffers.get(bname)
        if b is not None:
            out[bname] = _take(b, keep, 0)
    out["num_features"] = int(keep.size)
    return out


def _commit_bn(m, new):
    for pname in ("weight", "bias"):
        if pname in new:
            p = getattr(m, pname)
            p.data, p.mask = new[pname]
            p.grad = np.zeros_like(p.data)
    for bname in ("running_mean", "running_var"):
        if bname in new:
            m.set_buffer(bname, new[bname])
    m.num_features = new["num_features"]
    m._saved = None
