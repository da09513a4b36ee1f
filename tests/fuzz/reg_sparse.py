"""Fuzz registry, sparse weights (bind_sparse.cpp) and pruning (bind_prune.cpp). Valid calls
mirror fastnn/prune/_layers.py, _magnitude.py, _units.py and _common.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)


def dense(rows=4, cols=6, seed=0):
    w = f32(rows, cols, seed=seed)
    w[np.abs(w) < 0.6] = 0
    return w


def sparse(rows=4, cols=6):
    return _C.SparseMatrix.from_dense(dense(rows, cols))


def use_matrix(m):
    """A matrix the factory accepted must also be read back and multiply cleanly (small ones:
    a hostile shape must not make this check allocate)."""
    rows, cols = m.shape
    m.row_ptr, m.col_idx, m.values, m.sparsity, repr(m)
    if rows * cols <= 10 ** 6:
        m.to_dense()
    if cols <= 10 ** 4:
        m.spmm(f32(2, cols))


@entry("SparseMatrix.from_dense", Arg("weight", "array"), Arg("threshold", "float"))
def _from_dense():
    return Call(_C.SparseMatrix.from_dense, then=use_matrix, weight=dense(), threshold=0.7)


@entry("SparseMatrix.from_csr", Arg("shape", "ints", length=2, elem="size"),
       Arg("row_ptr", "array"), Arg("col_idx", "array"), Arg("values", "array"))
def _from_csr():
    return Call(_C.SparseMatrix.from_csr, then=use_matrix, shape=(3, 4),
                row_ptr=np.array([0, 2, 2, 3]), col_idx=np.array([0, 3, 1], np.int32),
                values=np.array([1.0, -2.0, 3.0], np.float32))


SPARSE_PRODUCT = (Arg("x", "array"), Arg("bias", "array"), Arg("relu", "bool"),
                  Arg("out", "out"))


@entry("SparseMatrix.spmm", *SPARSE_PRODUCT)
def _spmm():
    return Call(sparse().spmm, x=f32(3, 6), bias=f32(4, seed=1), relu=True,
                out=np.zeros((3, 4), np.float32))


@entry("SparseMatrix.matmul", *SPARSE_PRODUCT)
def _sparse_matmul():
    return Call(sparse().matmul, x=f32(6, 3), bias=f32(4, seed=1), relu=False,
                out=np.zeros((4, 3), np.float32))


# No-argument members of SparseMatrix (and its missing constructor).
def _sparse_member(attr):
    def build():
        m = sparse()
        return Call(getattr(m, attr) if attr == "to_dense" else lambda: getattr(m, attr))
    return build


for _attr in ("col_idx", "nbytes", "nnz", "row_ptr", "shape", "sparsity", "values", "to_dense"):
    entry("SparseMatrix." + _attr)(_sparse_member(_attr))
entry("SparseMatrix")(lambda: Call(_C.SparseMatrix))


# -- pruning ---------------------------------------------------------------------------------------
@entry("mask_apply", Arg("data", "out"), Arg("mask", "array"))
def _mask_apply():
    return Call(_C.mask_apply, data=f32(3, 4), mask=(f32(3, 4, seed=1) > 0).astype(np.float32))


@entry("magnitude_masks", Arg("weights", "arrays"), Arg("masks", "arrays"),
       Arg("n_zero", "int"))
def _magnitude():
    ws = [f32(3, 4), f32(5, seed=1)]
    return Call(_C.magnitude_masks, weights=ws,
                masks=[np.ones((3, 4), np.float32), (f32(5, seed=2) > 0).astype(np.float32)],
                n_zero=6)


@entry("unit_norms", Arg("weight", "array"), Arg("p", "int"))
def _unit_norms():
    return Call(_C.unit_norms, weight=f32(4, 3, 2), p=2)


@entry("sparse_conv2d", Arg("weight", "obj"), Arg("x", "array"), Arg("bias", "array"),
       Arg("kernel_size", "ints", length=2), Arg("stride", "ints", length=2),
       Arg("padding", "ints", length=2), Arg("dilation", "ints", length=2), Arg("relu", "bool"))
def _sparse_conv():
    # a Conv2d(2, 64, 3) weight reshaped to (64, 2 * 3 * 3) (sizes: reg_conv.py)
    return Call(_C.sparse_conv2d, weight=sparse(64, 18), x=f32(2, 2, 5, 5), bias=f32(64, seed=1),
                kernel_size=(3, 3), stride=(1, 2), padding=(1, 1), dilation=(1, 1), relu=True)


# -- micro-kernel test hook (bind_ukr.cpp) ---------------------------------------------------------
@entry("_ukr_spmm", Arg("row_ptr", "array"), Arg("col", "array"), Arg("val", "array"),
       Arg("x", "array"), Arg("bias", "array"), Arg("y", "array"), Arg("n", "int"),
       Arg("relu", "bool"))
def _ukr_spmm():
    return Call(_C._ukr_spmm, row_ptr=np.array([0, 2, 2, 3], np.int64),
                col=np.array([0, 3, 1], np.int32), val=f32(3), x=f32(4, 5, seed=1),
                bias=f32(3, seed=2), y=np.zeros((3, 6), np.float32), n=5, relu=True)
