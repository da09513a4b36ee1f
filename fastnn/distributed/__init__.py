"""Data-parallel training over MPI (``pip install fastnn[mpi]``; launch with ``mpiexec -n N``).

Without mpiexec the same script runs as one process: world size 1, rank 0, every call a no-op.
See docs/distributed.md.
"""
import os
import sys
import threading
import time
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
    """``DistributedOptimizer(optimizer, bucket_mb=25, overlap=False)``: wraps a fastnn optimizer.
    ``step()`` first averages the gradients across ranks (``synchronize``: Allreduce over flat
    float32 buckets of at most ``bucket_mb`` MiB, never one call per parameter), then runs the
    wrapped fused step. Everything else (lr, param_groups, zero_grad, state_dict, masks, the fused
    max_norm clipping) is the wrapped optimizer's; clip_grad_norm_ between ``synchronize()`` and
    ``step()`` clips the averaged gradient.

    ``overlap=True`` (as PyTorch DDP does): between ``zero_grad()`` and ``synchronize()``, a
    bucket's non-blocking ``Iallreduce`` starts as soon as the backward of every layer owning
    its parameters has run (buckets in reverse parameter order, the order backward makes them
    final), and each later layer's backward gives MPI a chance to progress it; ``synchronize``
    starts what is left and waits. If a layer whose bucket has already started runs its
    backward again (a layer shared by two calls), every rank redoes the step's allreduce
    synchronously, so the result is always the synchronous one."""

    def __init__(self, optimizer, bucket_mb=25, overlap=False):
        from fastnn.optim import Optimizer
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnn.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) \
                or not bucket_mb > 0:
            raise ValueError(f"bucket_mb: expected a number > 0, got {bucket_mb!r}")
        if not isinstance(overlap, bool):
            raise TypeError(f"overlap: expected True or False, got {overlap!r}")
        init()
        d = self.__dict__
        d["optimizer"] = optimizer
        d["bucket_mb"] = float(bucket_mb)
        d["overlap"] = overlap
        d["_synced"] = False
        d["_buckets"] = None
        d["_weight"] = None      # the next step's gradient weight (fit: n_local / n_global)
        d["_armed"] = None       # overlap state of the step in flight
        d["allreduce_seconds"] = 0.0
        d["early_buckets"] = 0   # overlap: buckets started during a backward
        d["redone_steps"] = 0    # overlap: steps redone synchronously (a shared layer)

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __setattr__(self, name, value):
        if name in self.__dict__:
            self.__dict__[name] = value
        else:
            setattr(self.optimizer, name, value)

    def _params(self):
        return [p for p in self.optimizer._params if p.requires_grad and p.grad is not None]

    def _plan(self, params):
        """Buckets of at most bucket_mb MiB, in reverse parameter order (the order in which
        backward finishes them), each with its flat float32 buffer."""
        cap = max(1, int(self.bucket_mb * 2 ** 20) // 4)
        buckets, cur, size = [], [], 0
        for i in reversed(range(len(params))):
            g = params[i].grad
            if cur and size + g.size > cap:
                buckets.append((cur, size))
                cur, size = [], 0
            cur.append(i)
            size += g.size
        if cur:
            buckets.append((cur, size))
        return [(idx, np.empty(n, np.float32)) for idx, n in buckets]

    def _buckets_for(self, params):
        key = [p.grad.size for p in params]
        if self._buckets is None or self._buckets[0] != key:
            self.__dict__["_buckets"] = (key, self._plan(params))
        return self._buckets[1]

    def _weight_now(self, weight):
        n = world_size()
        if weight is None:
            weight = self._weight
        return np.float32(1.0 / n if weight is None else weight)

    @staticmethod
    def _pack(params, idx, flat, w):
        off = 0
        for i in idx:
            g = params[i].grad
            np.multiply(g.reshape(-1), w, out=flat[off:off + g.size])
            off += g.size

    @staticmethod
    def _unpack(params, idx, flat):
        off = 0
        for i in idx:
            g = params[i].grad
            g.reshape(-1)[...] = flat[off:off + g.size]
            off += g.size

    # -- overlap ---------------------------------------------------------------------------------
    def _arm(self):
        """zero_grad() with overlap: watch the backward and start each bucket when final."""
        from fastnn.nn import _calls
        self._disarm()
        params = self._params()
        if not params:
            return
        buckets = self._buckets_for(params)
        owner = {}
        left = []
        for b, (idx, _) in enumerate(buckets):
            left.append(len(idx))
            for i in idx:
                owner[id(params[i])] = b
        st = {"params": params, "buckets": buckets, "owner": owner, "left": left,
              "reqs": [None] * len(buckets), "dirty": False, "w": self._weight_now(None),
              "thread": threading.get_ident(), "seen": set(), "t": 0.0}
        MPI = _mpi()

        def hook(module):
            if threading.get_ident() != st["thread"]:
                return
            t0 = time.perf_counter()
            for p in module._parameters.values():
                b = owner.get(id(p))
                if b is None:
                    continue
                if st["reqs"][b] is not None:  # a second backward into a started bucket
                    st["dirty"] = True
                    continue
                if id(p) not in st["seen"]:
                    st["seen"].add(id(p))
                    left[b] -= 1
                    if left[b] == 0:
                        idx, flat = buckets[b]
                        self._pack(params, idx, flat, st["w"])
                        st["reqs"][b] = _comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
                        self.__dict__["early_buckets"] += 1
            live = [r for r in st["reqs"] if r is not None]
            if live:
                MPI.Request.Testall(live)  # lets MPICH progress the started buckets
            st["t"] += time.perf_counter() - t0

        st["hook"] = hook
        _calls.backward_hooks.append(hook)
        self.__dict__["_armed"] = st

    def _disarm(self):
        st = self._armed
        if st is None:
            return None
        from fastnn.nn import _calls
        try:
            _calls.backward_hooks.remove(st["hook"])
        except ValueError:
            pass
        self.__dict__["_armed"] = None
        return st

    def _finish_overlap(self, st, weight):
        MPI = _mpi()
        params, buckets, reqs = st["params"], st["buckets"], st["reqs"]
        w = self._weight_now(weight)
        if any(r is not None for r in reqs) and w != st["w"]:
            st["dirty"] = True  # started with another weight: redo
        for b, (idx, flat) in enumerate(buckets):
            if reqs[b] is None:
                self._pack(params, idx, flat, w)
                reqs[b] = _comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        MPI.Request.Waitall(reqs)
        if allreduce_sum([float(st["dirty"])])[0] > 0:  # every rank decides alike
            self.__dict__["redone_steps"] += 1
            self._sync_blocking(params, buckets, w)
            return
        for idx, flat in buckets:
            self._unpack(params, idx, flat)

    def _sync_blocking(self, params, buckets, w):
        MPI = _mpi()
        for idx, flat in buckets:
            self._pack(params, idx, flat, w)
            _comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            self._unpack(params, idx, flat)

    # -- public ----------------------------------------------------------------------------------
    def synchronize(self, weight=None):
        """Replace each gradient by sum over ranks of ``weight * grad`` (default weight
        1 / world_size: the mean). fit passes n_local / n_global so a short last batch still
        gives the global-batch mean. Done once per step."""
        if self._synced:
            return
        self.__dict__["_synced"] = True
        st = self._disarm()
        self.__dict__["_weight"] = None
        if world_size() == 1:
            return
        t0 = time.perf_counter()
        if st is not None:
            self._finish_overlap(st, weight)
            t0 -= st["t"]
        else:
            params = self._params()
            self._sync_blocking(params, self._buckets_for(params), self._weight_now(weight))
        self.__dict__["allreduce_seconds"] += time.perf_counter() - t0

    def set_weight(self, weight):
        """The gradient weight of the coming step (fit: n_local / n_global), known before the
        backward so overlapped buckets start scaled."""
        self.__dict__["_weight"] = weight

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        self.synchronize()
        self.__dict__["_synced"] = False
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none=None):
        self.__dict__["_synced"] = False
        self.optimizer.zero_grad()
        if self.overlap and world_size() > 1:
            self._arm()

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        return self.optimizer.load_state_dict(state)

    def __repr__(self):
        return (f"DistributedOptimizer({self.optimizer!r}, bucket_mb={self.bucket_mb:g}"
                + (", overlap=True)" if self.overlap else ")"))
