"""to_sparse: a copy of a pruned model whose sparse Linear/Conv2d layers run on CSR kernels."""
import copy

import numpy as np

from fastnn.nn.linear import Linear
from fastnn.nn.conv import Conv2d
from fastnn.prune._common import check_fraction, check_model, masked_weight
from fastnn.prune._layers import SparseConv2d, SparseLinear

__all__ = ["to_sparse"]


def _weight_sparsity(layer):
    w = masked_weight(layer.weight)
    return 1.0 - np.count_nonzero(w) / w.size if w.size else 0.0


def _convert(layer, min_sparsity):
    """The sparse twin of ``layer``, or None when it stays dense."""
    if isinstance(layer, Linear):
        make = SparseLinear.from_linear
    elif isinstance(layer, Conv2d) and layer.groups == 1:
        make = SparseConv2d.from_conv
    else:
        return None
    if _weight_sparsity(layer) < min_sparsity:
        return None
    return make(layer)


def to_sparse(model, min_sparsity=0.7):
    """A new model for inference in which every Linear, and every Conv2d with groups == 1, whose
    weight has at least ``min_sparsity`` zeros (mask applied) is replaced by a ``SparseLinear`` /
    ``SparseConv2d`` holding the weight as CSR and served by fastnn's sparse x dense kernels (a
    convolution through its im2col matrix, ``W @ X``). Bias and a directly following ReLU are
    fused into the kernel. Everything else is copied unchanged (masks included); ``model`` itself
    is not modified.

    The converted model's outputs equal the masked dense model's within float32 rounding (the
    sums skip the zero terms). Converted layers are inference-only: their backward raises. Save
    and load the result with ``fastnn.save`` / ``fastnn.load``.

    min_sparsity: in [0, 1]. Where the sparse kernel starts to beat the dense GEMM depends on the
    shape and batch (``python bench/compare.py prune`` reports the crossover); 0.7 is a safe
    default on AVX-512 machines.
    """
    check_model(model, "to_sparse")
    min_sparsity = check_fraction(min_sparsity, "min_sparsity", "to_sparse", upper_inclusive=True)
    new = copy.deepcopy(model)
    whole = _convert(new, min_sparsity)
    if whole is not None:  # the model is itself one layer
        return whole
    swaps = []
    for _, parent in new.named_modules():
        for name, child in parent.named_children():
            replacement = _convert(child, min_sparsity)
            if replacement is not None:
                swaps.append((parent, name, replacement))
    for parent, name, replacement in swaps:  # in place: a Sequential keeps its order, a Model
        setattr(parent, name, replacement)   # replaces the layer in every node that uses it
    return new
