"""unit_prune: remove whole output neurons / channels and physically shrink the layers.

Every model -- Sequential, Residual, nn.Model, nested -- is read as one graph view of its leaf
layers (_graph_units.py). A pruned layer's units travel to every Linear/Conv2d that consumes
them (fan-out included), through layers that act on each unit separately -- activations,
Dropout, pooling (which pass them through), BatchNorm (whose per-unit parameters and statistics
shrink with them), a Flatten (which turns channel c of an (N, C, H, W) map into the H*W inputs
c*H*W .. (c+1)*H*W - 1 of the next Linear) and a Concat (an offset).
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.linear import Linear
from fastnn.prune import _graph_units
from fastnn.prune._common import (check_choice, check_fraction, check_mask, check_model, display,
                                  masked_weight, resolve_layers)

__all__ = ["unit_prune", "UnitPruneReport"]

CRITERIA = {"l1": 1, "l2": 2}


def _width(layer):
    return layer.out_features if isinstance(layer, Linear) else layer.out_channels


def _shapes(view, model, input_shape):
    """Every slot's shape (traced), or None without ``input_shape`` for a model that does not
    know its input shapes (a Sequential)."""
    known = model._graph is not None and model._graph.in_shapes is not None
    if known and input_shape is None:
        return view.shapes([s[1:] for s in model._graph.in_shapes])
    if input_shape is None:
        return None
    if isinstance(input_shape, numbers.Integral):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in input_shape):
        raise TypeError(f"unit_prune: input_shape: expected a tuple of positive ints (one "
                        f"sample's shape), got {input_shape!r}")
    shape = tuple(int(s) for s in input_shape)
    try:
        return view.shapes([shape])
    except (ValueError, TypeError) as e:
        raise ValueError(f"unit_prune: input_shape: a forward on a batch of shape "
                         f"{(2,) + shape} failed: {e}") from None


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
    view = _graph_units.View(model)
    shapes = _shapes(view, model, input_shape)
    in_view = {id(m) for _, m, _, _ in view.nodes}

    report = UnitPruneReport()
    skipped = {}
    rows = {}  # id(layer) -> kept output units
    cols, bn_drop = {}, {}  # id(consumer) -> removed input positions; id(bn) -> removed features
    owners = {}  # id(layer) -> (name, layer) for everything that changes
    for name, layer in selected:
        if id(layer) not in in_view:
            raise ValueError(f"{where}: layer {display(name)}: it sits inside a container "
                             "unit_prune cannot follow (a module with sub-layers but no graph, "
                             "e.g. a define-by-run forward)")
        try:
            arrivals = _graph_units.follow(view, layer, name, shapes)
        except _graph_units.Kept as e:
            if explicit:
                raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") \
                    from None
            skipped[name] = str(e)
            continue
        except _graph_units.Blocked as e:
            raise ValueError(f"{where}: layer {display(name)} cannot lose units: {e}") from None
        keep, removed = _choose(layer, amount, criterion)
        for kind_, cname, m, pos in arrivals:
            gone = pos[removed].reshape(-1)
            (bn_drop if kind_ == "bn" else cols).setdefault(id(m), set()).update(gone.tolist())
            owners[id(m)] = (cname, m)
        rows[id(layer)] = keep
        owners[id(layer)] = (name, layer)
        report[name] = {"type": type(layer).__name__, "before": _width(layer),
                        "after": int(keep.size), "removed": removed.tolist()}
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
