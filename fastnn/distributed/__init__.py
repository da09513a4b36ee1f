"""Data-parallel training over MPI (``pip install fastnn[mpi]``; launch with ``mpiexec -n N``).

Without mpiexec the same script runs as one process: world size 1, rank 0, every call a no-op.
See docs/distributed.md.
"""
import os
import sys
import traceback

import numpy as np

__all__ = ["init", "rank", "world_size", "barrier", "is_main", "broadcast_parameters",
           "allreduce_sum", "DistributedOptimizer"]

_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                "HYDRA_CONTROL_FD")
_comm = None  # mpi4py communicator once init() found mpiexec; None for a single process


def _launched():
    return any(v in os.environ for v in _LAUNCH_VARS)


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("fastnn.distributed under mpiexec needs mpi4py: "
                          "pip install fastnn[mpi]") from e
    return MPI


def _abort_hook(exc_type, exc, tb):
    """An uncaught exception on any rank ends the whole job (no rank left waiting in a
    collective): the rank and the traceback go to stderr, then MPI_Abort."""
    sys.stderr.write(f"fastnn.distributed: rank {rank()} of {world_size()} failed:\n"
                     + "".join(traceback.format_exception(exc_type, exc, tb)))
    sys.stderr.flush()
    _comm.Abort(1)


def init():
    """Start MPI when launched under mpiexec (idempotent); otherwise a single process. Installs
    the abort-on-exception hook. Returns the world size."""
    global _comm
    if _comm is None and _launched():
        _comm = _mpi().COMM_WORLD
        if _comm.Get_size() > 1:
            sys.excepthook = _abort_hook
    return world_size()


def rank():
    return _comm.Get_rank() if _comm is not None else 0


def world_size():
    return _comm.Get_size() if _comm is not None else 1


def is_main():
    return rank() == 0


def barrier():
    if _comm is not None:
        _comm.Barrier()


def allreduce_sum(values):
    """Sum a float64 vector across ranks (a copy; the input unchanged)."""
    a = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    if _comm is not None and world_size() > 1:
        _comm.Allreduce(_mpi().IN_PLACE, a, op=_mpi().SUM)
    return a


def bcast_object(obj):
    """rank 0's ``obj`` on every rank."""
    return _comm.bcast(obj, root=0) if _comm is not None and world_size() > 1 else obj


def _arrays(model):
    named = [(n, p.data) for n, p in model.named_parameters()]
    named += [(f"buffer[{i}]", b) for i, b in enumerate(model.buffers()) if b is not None]
    return named


def broadcast_parameters(model):
    """Every rank gets rank 0's parameters and buffers. The names and shapes are compared first:
    a model that differs on some rank raises ValueError on every rank (naming the rank, the
    parameter and both shapes) before anything is changed."""
    init()
    if world_size() == 1:
        return model
    arrays = _arrays(model)
    mine = [(n, tuple(a.shape), str(a.dtype)) for n, a in arrays]
    layouts = _comm.allgather(mine)
    for r, lay in enumerate(layouts):
        if lay != layouts[0]:
            diff = next(((a, b) for a, b in zip(layouts[0], lay) if a != b), None)
            what = (f"{diff[0][0]}: rank 0 has shape {diff[0][1]} {diff[0][2]}, rank {r} has "
                    f"{diff[1][0]} {diff[1][1]} {diff[1][2]}" if diff is not None else
                    f"rank 0 has {len(layouts[0])} arrays, rank {r} has {len(lay)}")
            raise ValueError(f"broadcast_parameters: the model differs across ranks: {what}")
    for _, a in arrays:
        _comm.Bcast(a, root=0)
    return model


class DistributedOptimizer:
    """``DistributedOptimizer(optimizer, bucket_mb=25)``: wraps a fastnn optimizer. ``step()``
    first averages the gradients across ranks (``synchronize``: Allreduce over flat float32
    buckets of at most ``bucket_mb`` MiB, never one call per parameter), then runs the wrapped
    fused step. Everything else (lr, param_groups, zero_grad, state_dict, masks, the fused
    max_norm clipping) is the wrapped optimizer's; clip_grad_norm_ between ``synchronize()`` and
    ``step()`` clips the averaged gradient."""

    def __init__(self, optimizer, bucket_mb=25):
        from fastnn.optim import Optimizer
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnn.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) \
                or not bucket_mb > 0:
            raise ValueError(f"bucket_mb: expected a number > 0, got {bucket_mb!r}")
        init()
        self.__dict__["optimizer"] = optimizer
        self.__dict__["bucket_mb"] = float(bucket_mb)
        self.__dict__["_synced"] = False
        self.__dict__["_buckets"] = None
        self.__dict__["allreduce_seconds"] = 0.0

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __setattr__(self, name, value):
        if name in self.__dict__:
            self.__dict__[name] = value
        else:
            setattr(self.optimizer, name, value)

    def _grads(self):
        return [p.grad for p in self.optimizer._params
                if p.requires_grad and p.grad is not None]

    def _plan(self, grads):
        cap = max(1, int(self.bucket_mb * 2 ** 20) // 4)
        buckets, cur, size = [], [], 0
        for i, g in enumerate(grads):
            if cur and size + g.size > cap:
                buckets.append((cur, size))
                cur, size = [], 0
            cur.append(i)
            size += g.size
        if cur:
            buckets.append((cur, size))
        return [(idx, np.empty(n, np.float32)) for idx, n in buckets]

    def synchronize(self, weight=None):
        """Replace each gradient by sum over ranks of ``weight * grad`` (default weight
        1 / world_size: the mean). fit passes n_local / n_global so a short last batch still
        gives the global-batch mean. Done once per step."""
        if self._synced:
            return
        self.__dict__["_synced"] = True
        n = world_size()
        if n == 1:
            return
        import time
        t0 = time.perf_counter()
        grads = self._grads()
        key = [g.size for g in grads]
        if self._buckets is None or self._buckets[0] != key:
            self.__dict__["_buckets"] = (key, self._plan(grads))
        w = np.float32(1.0 / n if weight is None else weight)
        MPI = _mpi()
        for idx, flat in self._buckets[1]:
            off = 0
            for i in idx:
                g = grads[i]
                np.multiply(g.reshape(-1), w, out=flat[off:off + g.size])
                off += g.size
            _comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            off = 0
            for i in idx:
                g = grads[i]
                g.reshape(-1)[...] = flat[off:off + g.size]
                off += g.size
        self.__dict__["allreduce_seconds"] += time.perf_counter() - t0

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        self.synchronize()
        self.__dict__["_synced"] = False
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none=None):
        self.__dict__["_synced"] = False
        self.optimizer.zero_grad()

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        return self.optimizer.load_state_dict(state)

    def __repr__(self):
        return f"DistributedOptimizer({self.optimizer!r}, bucket_mb={self.bucket_mb:g})"

