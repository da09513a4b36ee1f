"""Sparse (CSR) weights for the inference of pruned layers: a thin wrapper over _C.SparseMatrix.

The arithmetic is C++ (csrc/frame/sparse.cpp, csrc/kernels/*/spmm_csr.cpp); this module only
names things and forwards.
"""
import numpy as np

from fastnn import _C

__all__ = ["SparseLinearWeights"]


class SparseLinearWeights:
    """A pruned weight W of shape (out_features, in_features), stored as compressed sparse rows.

    Built from a dense array: entries with ``|w| > threshold`` are kept (``threshold=0`` drops the
    exact zeros a pruning mask leaves; NaN is kept). Immutable.

    ``linear(x)`` computes ``x @ W.T + bias`` for x of shape (batch, in_features), the layout of a
    Linear layer; ``matmul(x)`` computes ``W @ x + bias[:, None]`` for x of shape
    (in_features, n), the layout of a convolution's im2col matrix (output channels x pixels).
    Both take ``relu=True`` to fuse a ReLU, and ``out=`` (float32, C-contiguous, right shape).
    """

    __slots__ = ("_m",)

    def __init__(self, weight, threshold=0.0):
        self._m = _C.SparseMatrix.from_dense(weight, float(threshold))

    @classmethod
    def from_csr(cls, shape, row_ptr, col_idx, values):
        """From CSR arrays (validated; copied): row o holds ``values[row_ptr[o]:row_ptr[o+1]]`` at
        the strictly increasing columns ``col_idx[row_ptr[o]:row_ptr[o+1]]``."""
        self = cls.__new__(cls)
        self._m = _C.SparseMatrix.from_csr(tuple(shape), row_ptr, col_idx, values)
        return self

    @property
    def shape(self):
        """(out_features, in_features)."""
        return self._m.shape

    @property
    def nnz(self):
        """Number of stored entries."""
        return self._m.nnz

    @property
    def sparsity(self):
        """Fraction of the entries not stored (0.0 for an empty shape)."""
        return self._m.sparsity

    @property
    def nbytes(self):
        """Bytes as stored: 4 per value, 4 per column index, 8 per row offset."""
        return self._m.nbytes

    @property
    def dense_nbytes(self):
        """Bytes of the same weight stored dense in float32."""
        rows, cols = self.shape
        return 4 * rows * cols

    def csr(self):
        """(row_ptr int64, col_idx int32, values float32) copies, for saving."""
        return self._m.row_ptr, self._m.col_idx, self._m.values

    def to_dense(self):
        """The dense float32 weight (zeros where nothing is stored)."""
        return self._m.to_dense()

    def linear(self, x, bias=None, *, relu=False, out=None):
        """``x @ W.T + bias`` (then ReLU if relu): x (batch, in_features) -> (batch, out_features)."""
        return self._m.spmm(x, bias, bool(relu), out)

    __call__ = linear

    def matmul(self, x, bias=None, *, relu=False, out=None):
        """``W @ x + bias[:, None]`` (then ReLU if relu): x (in_features, n) -> (out_features, n)."""
        return self._m.matmul(x, bias, bool(relu), out)

    def __repr__(self):
        rows, cols = self.shape
        return (f"SparseLinearWeights(shape=({rows}, {cols}), nnz={self.nnz}, "
                f"sparsity={self.sparsity:.3f}, nbytes={self.nbytes})")

    def __eq__(self, other):
        if not isinstance(other, SparseLinearWeights):
            return NotImplemented
        return self.shape == other.shape and all(
            np.array_equal(a, b) for a, b in zip(self.csr(), other.csr()))

    __hash__ = None
