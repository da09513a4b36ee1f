"""Run by tests/distributed/test_distributed.py, under mpiexec or alone.

argv: mode outdir. Modes: train (fit distributed, save this rank's weights), fail (rank 1 raises
mid-epoch), mismatch (rank 1 builds a wider model), stop0/stop1 (one rank asks to stop); a mode
ending in "_overlap" uses DistributedOptimizer(overlap=True); "shared..." trains a model that
calls one Linear twice (its bucket starts after the first call: the step must be redone).
"""
import os
import sys

import numpy as np

import fastnn
from fastnn import distributed as dist
from fastnn.nn import Linear, ReLU, Sequential, BatchNorm1d, CrossEntropyLoss
from fastnn.train import Callback, ModelCheckpoint


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((203, 13)).astype(np.float32)  # 203: the last global batch is short
    y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 0.5)
    return x, y


def model(width=17, bn=False, shared=False):
    fastnn.manual_seed(1)
    if shared:
        inner = Linear(width, width)
        return Sequential(Linear(13, width), ReLU(), inner, ReLU(), inner, ReLU(),
                          Linear(width, 3))
    layers = [Linear(13, width)] + ([BatchNorm1d(width)] if bn else []) + [ReLU(), Linear(width, 3)]
    return Sequential(*layers)


class Boom(Callback):
    def on_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and batch == 2:
            raise RuntimeError("rank 1 fails on purpose")


class StopOnRank(Callback):
    """Asks to stop after the first epoch on one rank only: rank 0's word must win everywhere."""

    def __init__(self, who):
        self.who = who

    def on_epoch_end(self, epoch, logs=None):
        if dist.rank() == self.who:
            self.trainer.stop_training = True


def main(mode, out, batch=8):
    dist.init()
    if mode == "mismatch":
        m = model(19 if dist.rank() == 1 else 17)
        dist.broadcast_parameters(m)
        return
    overlap = mode.endswith("_overlap")
    mode = mode.replace("_overlap", "")
    shared = mode == "shared"
    m = model(shared=shared)
    x, y = data()
    # 0.0005 MiB = 131 floats per bucket: several buckets, small parameters sharing one
    opt = dist.DistributedOptimizer(fastnn.optim.Adam(m.parameters(), lr=1e-2), bucket_mb=0.0005,
                                    overlap=overlap)
    cbs = [ModelCheckpoint(os.path.join(out, "ckpt-{epoch}.safetensors"), monitor="loss")]
    if mode == "fail":
        cbs.append(Boom())
    if mode.startswith("stop"):  # stop0: rank 0 stops (all stop); stop1: only rank 1 asks (none)
        cbs.append(StopOnRank(int(mode[-1])))
    hist = fastnn.fit(m, CrossEntropyLoss(), opt, x, y, batch_size=batch, epochs=2, seed=3,
                      verbose=0, callbacks=cbs, distributed=True, clip_grad_norm=5.0,
                      validation_split=0.1)
    if dist.world_size() > 1 and not shared:  # reverse parameter order: backward's
        assert [len(i) for i, _ in opt._buckets[1]] == [3, 1]  # 3 + 51 + 17 | 221 floats
    np.savez(os.path.join(out, f"rank{dist.rank()}.npz"), epochs=len(hist.epoch),
             *[p.data for p in m.parameters()], val_loss=hist.history["val_loss"][-1],
             loss=hist.history["loss"][-1], early=opt.early_buckets, redone=opt.redone_steps)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *[int(a) for a in sys.argv[3:]])
