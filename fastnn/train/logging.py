"""Logging callbacks: CSVLogger (one row per epoch) and TensorBoard (event files, with the
Diagnostics as scalars and histograms when a Diagnostics callback runs in the same fit).

TensorBoard needs tensorboardX (``pip install fastnn[tensorboard]``); view with
``tensorboard --logdir <log_dir>``.
"""
import csv
import math
import os

import numpy as np

from fastnn.train.callbacks import Callback

__all__ = ["CSVLogger", "TensorBoard"]


def _path(path, name="path"):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


class CSVLogger(Callback):
    """Write one row per epoch to ``path``: ``epoch`` (1-based), the training values (loss,
    metrics), the validation values (val_*), then ``lr``. ``append=True`` continues an existing
    file (its header is kept; a resumed run adds its epochs). The file is flushed every epoch."""

    def __init__(self, path, append=False, separator=","):
        self.path = _path(path)
        self.append = bool(append)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: expected one character, got {separator!r}")
        self.separator = separator
        self._file = None
        self._writer = None
        self._keys = None

    @staticmethod
    def _order(keys):
        train = [k for k in keys if not k.startswith("val_") and k != "lr"]
        val = [k for k in keys if k.startswith("val_")]
        return train + val + (["lr"] if "lr" in keys else [])

    def on_train_begin(self, logs=None):
        self._keys = None
        exists = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            if header and header[0] == "epoch":
                self._keys = header[1:]
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = self._order(list(logs))
            self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch + 1] + [_fmt(logs.get(k, "")) for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


class TensorBoard(Callback):
    """Write TensorBoard event files to ``log_dir`` with tensorboardX: every logged value per
    epoch as a scalar (``epoch/loss``, ``epoch/val_loss``, ``epoch/lr``, ...), each parameter's
    weights and gradient as histograms every ``histogram_freq`` epochs (0: none), and -- when a
    fastnn.train.Diagnostics runs in the same fit -- its measurements: ``dead_fraction/<layer>``,
    ``act_mean/<layer>``, ``act_std/<layer>``, ``grad_norm/<param>``, ``update_ratio/<param>``
    as scalars and each activation layer's per-unit firing rate as a histogram."""

    def __init__(self, log_dir, histogram_freq=1):
        self.log_dir = _path(log_dir, "log_dir")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) \
                or histogram_freq < 0:
            raise ValueError(f"histogram_freq: expected an int >= 0, got {histogram_freq!r}")
        self.histogram_freq = histogram_freq
        self._writer_cls = _summary_writer()  # fail at construction, not after an epoch
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = self._writer_cls(logdir=self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        w = self.writer
        step = epoch + 1
        for k, v in (logs or {}).items():
            if isinstance(v, (int, float, np.floating)) and math.isfinite(v):
                w.add_scalar(f"epoch/{k}", float(v), step)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, p in self.model.named_parameters():
                w.add_histogram(f"weights/{name}", p.data, step)
                if p.requires_grad:
                    w.add_histogram(f"grads/{name}", p.grad, step)
        diag = getattr(self.trainer, "diagnostics", None)
        if diag is not None and diag.finish_epoch(epoch):
            h = diag.history
            for key in ("dead_fraction", "act_mean", "act_std", "grad_in_rms", "grad_norm",
                        "update_ratio"):
                for name, vals in h.get(key, {}).items():
                    if vals and math.isfinite(vals[-1]):
                        w.add_scalar(f"{key}/{name}", float(vals[-1]), step)
            for name, rate in diag.firing_rates().items():
                w.add_histogram(f"firing_rate/{name}", rate, step)
        w.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("TensorBoard needs tensorboardX: pip install fastnn[tensorboard]") \
            from None
    return SummaryWriter
