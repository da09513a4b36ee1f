"""Pruning (fastnn.prune): weight (magnitude) pruning with masks that keep pruned weights at zero
through training, unit pruning that physically shrinks layers, a gradual schedule for fit,
reports, and sparse inference layers that turn sparsity into speed.

    magnitude_prune(model, amount, scope="layer"|"global", layers=None)   masks; report
    remove_masks(model)                                                   make it permanent
    unit_prune(model, amount, criterion="l1"|"l2", layers=None,
               input_shape=None)                                          smaller dense model
    GradualPruning(final_sparsity, start_epoch, end_epoch, ...)           fit callback
    sparsity_report(model)                                                dict; print() it
    to_sparse(model, min_sparsity=0.7)                                    CSR inference copy

The arithmetic is C++ (mask application, the magnitude selection, unit norms, the CSR kernels);
this package only organises it. Contracts (what stays zero when, which layers unit pruning can
shrink, the saved format of sparse layers): docs/prune.md.
"""
from fastnn.prune._sparse import SparseLinearWeights
from fastnn.prune._layers import SparseConv2d, SparseLinear
from fastnn.prune._report import SparsityReport, sparsity_report
from fastnn.prune._magnitude import magnitude_prune, remove_masks
from fastnn.prune._units import UnitPruneReport, unit_prune
from fastnn.prune._convert import to_sparse
from fastnn.prune._schedule import GradualPruning

__all__ = ["SparseLinearWeights", "SparseLinear", "SparseConv2d", "magnitude_prune",
           "remove_masks", "unit_prune", "UnitPruneReport", "GradualPruning", "sparsity_report",
           "SparsityReport", "to_sparse"]
