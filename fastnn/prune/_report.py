"""sparsity_report: per-layer and total sparsity, parameter counts and model size."""
import numpy as np

from fastnn.prune._common import PRUNABLE, check_model

__all__ = ["sparsity_report", "SparsityReport", "csr_nbytes"]


def csr_nbytes(rows, nnz):
    """Bytes of a (rows x cols) weight stored as CSR: 4 per value + 4 per column index + 8 per
    row offset (rows + 1 of them) -- what fastnn's SparseMatrix holds."""
    return 8 * int(nnz) + 8 * (int(rows) + 1)


def _fmt_bytes(n):
    return f"{n / 1024:.1f}"


class SparsityReport(dict):
    """A dict ``{"layers": [...], "total": {...}}``; ``print(report)`` shows it as a table.

    Each layer entry: name, type, shape (of the weight), params (weight entries), zeros, sparsity,
    dense_bytes (float32), sparse_bytes (as CSR), stored ("dense" or "csr": how the layer holds
    its weight now). total: params / zeros / sparsity over all parameters; weight_params /
    weight_zeros / weight_sparsity over the Linear/Conv2d weights; dense_bytes (every parameter as
    float32) and sparse_bytes (those weights as CSR, everything else dense). Buffers (BatchNorm
    running statistics) are not counted."""

    def __str__(self):
        head = ["layer", "type", "weight shape", "weights", "zeros", "sparsity", "dense KiB",
                "CSR KiB"]
        rows = [[e["name"] or "<model>", e["type"], "x".join(map(str, e["shape"])),
                 str(e["params"]), str(e["zeros"]), f"{e['sparsity']:.1%}",
                 _fmt_bytes(e["dense_bytes"]), _fmt_bytes(e["sparse_bytes"])]
                for e in self["layers"]]
        t = self["total"]
        rows.append(["weights", "", "", str(t["weight_params"]), str(t["weight_zeros"]),
                     f"{t['weight_sparsity']:.1%}", "", ""])
        rows.append(["all params", "", "", str(t["params"]), str(t["zeros"]),
                     f"{t['sparsity']:.1%}", _fmt_bytes(t["dense_bytes"]),
                     _fmt_bytes(t["sparse_bytes"])])
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        line = lambda r: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(r, widths)))
        out = [line(head), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows[:-2]]
        out.append("  ".join("-" * w for w in widths))
        out += [line(r) for r in rows[-2:]]
        return "\n".join(out)


def sparsity_report(model):
    """Sparsity of every Linear/Conv2d weight (and of layers converted by ``to_sparse``) and of
    the whole model, parameter counts, and the model's size in bytes dense and as stored sparse
    (CSR weights). Returns a ``SparsityReport`` (a dict; ``print`` it for a table)."""
    check_model(model, "sparsity_report")
    from fastnn.prune._layers import SparseConv2d, SparseLinear
    layers, weight_ids = [], set()
    seen = set()
    for name, m in model.named_modules():
        if id(m) in seen:
            continue
        seen.add(id(m))
        if isinstance(m, PRUNABLE):
            w = m.weight.data
            zeros = int(w.size - np.count_nonzero(w))
            weight_ids.add(id(m.weight))
            entry = dict(name=name, type=type(m).__name__, shape=tuple(w.shape), params=int(w.size),
                         zeros=zeros, dense_bytes=4 * int(w.size),
                         sparse_bytes=csr_nbytes(w.shape[0], w.size - zeros), stored="dense")
        elif isinstance(m, (SparseLinear, SparseConv2d)):
            shape = m.weight_shape
            size = int(np.prod(shape))
            nnz = int(m.weight_values.size)
            entry = dict(name=name, type=type(m).__name__, shape=tuple(shape), params=size,
                         zeros=size - nnz, dense_bytes=4 * size,
                         sparse_bytes=csr_nbytes(shape[0], nnz), stored="csr")
        else:
            continue
        entry["sparsity"] = entry["zeros"] / entry["params"] if entry["params"] else 0.0
        layers.append(entry)
    w_params = sum(e["params"] for e in layers)
    w_zeros = sum(e["zeros"] for e in layers)
    other = other_zeros = 0
    for p in model.parameters():
        if id(p) not in weight_ids:
            other += p.data.size
            other_zeros += p.data.size - np.count_nonzero(p.data)
    for m in model.modules():  # a converted layer's bias is a buffer, not a Parameter
        if isinstance(m, (SparseLinear, SparseConv2d)) and m.bias is not None:
            other += m.bias.size
            other_zeros += m.bias.size - np.count_nonzero(m.bias)
    params = w_params + int(other)
    zeros = w_zeros + int(other_zeros)
    total = dict(params=params, zeros=zeros, sparsity=zeros / params if params else 0.0,
                 weight_params=w_params, weight_zeros=w_zeros,
                 weight_sparsity=w_zeros / w_params if w_params else 0.0,
                 dense_bytes=4 * params,
                 sparse_bytes=sum(e["sparse_bytes"] for e in layers) + 4 * int(other))
    return SparsityReport(layers=layers, total=total)
