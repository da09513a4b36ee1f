"""The fuzz registry: one entry per public name of fastnn._C and per public member of its classes
(a valid call and its arguments), gathered from the area modules reg_*.py."""
import inspect

from fastnn import _C

from . import (reg_binary, reg_compress, reg_conv, reg_dense, reg_info, reg_optim, reg_plan,
               reg_quant, reg_sparse)

REGISTRY = {}
for _module in (reg_dense, reg_conv, reg_optim, reg_quant, reg_sparse, reg_info, reg_binary,
                reg_compress, reg_plan):
    for _e in _module.ENTRIES:
        assert _e.name not in REGISTRY, f"two fuzz entries for {_e.name}"
        REGISTRY[_e.name] = _e

# The names that take no argument, listed here on purpose (not derived from the entries): a new
# binding cannot become "no argument" by accident. Each is called once, and once more with a stray
# argument (which must raise TypeError) when it is a function or method.
NO_ARGS = frozenset({
    "build_info", "active_isa", "get_num_threads", "gemm_tile", "gemm_config", "s8_gemm_info",
    "_conv_tile", "kernel_names", "binary_kernel", "binary_vpopcntdq", "binary_plane_kernel",
    "OptimTable.total", "OptimTable.zero_grad",
    "Unary.name", "Unary.value", "Unary.label", "PointwiseLossKind.name", "PointwiseLossKind.value",
    "PointwiseLossKind.label", "OptimKind.name", "OptimKind.value", "OptimKind.label",
    "PackedWeightsS8", "PackedWeightsS8.colsum", "PackedWeightsS8.isa", "PackedWeightsS8.k",
    "PackedWeightsS8.kgroup", "PackedWeightsS8.n", "PackedWeightsS8.nbytes", "PackedWeightsS8.nr",
    "PackedWeightsS8.shape", "PackedWeightsS8.unpack",
    "SparseMatrix", "SparseMatrix.col_idx", "SparseMatrix.nbytes", "SparseMatrix.nnz",
    "SparseMatrix.row_ptr", "SparseMatrix.shape", "SparseMatrix.sparsity", "SparseMatrix.values",
    "SparseMatrix.to_dense",
    "_ukr_tiles", "InferencePlan.n_ops", "InferencePlan.op_seconds",
})


def public_names():
    """Every name the fuzzer must cover: the public names of _C (all but dunders, so the `_leaf_*`
    test hooks count) and, for each class, "Class" (its constructor) and "Class.member" for every
    member not starting with "_"."""
    names = set()
    for name in dir(_C):
        if name.startswith("__"):
            continue
        names.add(name)
        obj = getattr(_C, name)
        if inspect.isclass(obj):
            # An enum's constants (Unary.relu, ...) are values of the class, not calls.
            names.update(f"{name}.{m}" for m in dir(obj)
                         if not m.startswith("_") and not isinstance(getattr(obj, m), obj))
    return names


FUZZED = sorted(n for n, e in REGISTRY.items() if e.args)
