"""The part of ``fastnn.fit(..., distributed=True)`` that differs from one process.

The loader yields global batches of ``batch_size * world_size`` with the shuffle one process
uses for that batch; rank r takes the r-th contiguous slice. Gradients are averaged with
weights n_local / n_global, so a short last batch still gives the global mean.
"""
from fastnn import distributed as _d


def _writes(cb):
    from fastnn.train.callbacks import ModelCheckpoint
    from fastnn.train.logging import CSVLogger, TensorBoard
    return isinstance(cb, (ModelCheckpoint, CSVLogger, TensorBoard))


class Plan:
    def __init__(self, model, optimizer, batch_size):
        _d.init()
        self.rank, self.size = _d.rank(), _d.world_size()
        self.local_batch = batch_size
        self.global_batch = batch_size * self.size
        _d.broadcast_parameters(model)
        self.optimizer = (optimizer if isinstance(optimizer, _d.DistributedOptimizer)
                          else _d.DistributedOptimizer(optimizer))

    def callbacks(self, callbacks):
        """Writing callbacks (checkpoints, loggers) run on rank 0 only."""
        return callbacks if self.rank == 0 else [cb for cb in callbacks if not _writes(cb)]

    def verbose(self, verbose):
        return verbose if self.rank == 0 else 0

    def local(self, xb, yb):
        """This rank's contiguous slice of a global batch and its gradient weight. A rank left
        without samples by a short last batch runs the first sample with weight 0 (its gradient
        and its logs do not count) so every rank still joins the allreduce."""
        n = len(xb)
        lo = min(n, self.rank * self.local_batch)
        hi = min(n, lo + self.local_batch)
        self.nb = hi - lo
        if hi == lo:
            lo, hi = 0, 1
        self.optimizer.set_weight(self.nb / n)  # known before backward (overlapped buckets)
        return xb[lo:hi], yb[lo:hi], self.nb / n

    def sync(self, weight):
        self.optimizer.synchronize(weight)

    def reduce(self, seen, loss_sum, metric_sums):
        keys = list(metric_sums)
        tot = _d.allreduce_sum([seen, loss_sum] + [metric_sums[k] for k in keys])
        return int(tot[0]), float(tot[1]), {k: float(v) for k, v in zip(keys, tot[2:])}

    def evaluate(self, evaluate, model, loss_fn, x, y, **kw):
        """Validation split over ranks, means weighted by each shard's size."""
        step = -(-len(x) // self.size)  # rank 0's shard is never empty
        lo, hi = min(len(x), self.rank * step), min(len(x), (self.rank + 1) * step)
        val = evaluate(model, loss_fn, x[lo:hi], y[lo:hi], **kw) if hi > lo else None
        keys = sorted(bcast_keys(val))
        n = hi - lo
        tot = _d.allreduce_sum([n] + [(val[k] * n if val else 0.0) for k in keys])
        return {k: float(v / tot[0]) for k, v in zip(keys, tot[1:])}

    def stop(self, flag):
        """rank 0 decides (EarlyStopping), every rank follows."""
        return bool(_d.bcast_object(bool(flag)))


def bcast_keys(val):
    return _d.bcast_object(list(val) if val else [])
