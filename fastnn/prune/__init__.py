"""Pruning (fastnn.prune). For now the sparse inference core: SparseLinearWeights, a pruned weight
in compressed sparse row form served by C++ sparse x dense kernels. The model-level API
(magnitude_prune, unit_prune, masks, GradualPruning, to_sparse, sparsity_report) builds on it."""
from fastnn.prune._sparse import SparseLinearWeights

__all__ = ["SparseLinearWeights"]
