"""Callbacks for fastnn.fit: a plain base class users extend, EarlyStopping and ModelCheckpoint.

Hooks receive the epoch/batch index (``on_backward_end`` runs between a batch's backward and its
optimizer step) and a ``logs`` dict ({"loss": ..., "accuracy": ...,
"val_loss": ..., "lr": ...} at epoch end). Each callback has ``.model``, ``.optimizer``,
``.scheduler`` and ``.trainer`` set before training starts; set ``trainer.stop_training = True`` to
end training after the current epoch.
"""
import math
import os

import numpy as np


class Callback:
    """Base class: override any hook."""

    model = None
    optimizer = None
    scheduler = None
    trainer = None

    def set_context(self, model, optimizer, scheduler, trainer):
        self.model, self.optimizer, self.scheduler, self.trainer = model, optimizer, scheduler, trainer

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_backward_end(self, batch, logs=None):
        """After the batch's backward, before gradient clipping and the optimizer step."""
        pass


def _mode_for(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class _Monitor:
    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor: expected a str, got {type(monitor).__name__}")
        if min_delta < 0:
            raise ValueError(f"min_delta: must be >= 0, got {min_delta}")
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = float(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs):
        if self.monitor not in (logs or {}):
            raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not among the "
                             f"logged values {sorted(logs or {})} (val_* needs validation data)")
        return float(logs[self.monitor])

    def improved(self, v):
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(Callback, _Monitor):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.
    With restore_best_weights, the model gets back the weights of its best epoch at the end."""

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False, baseline=None):
        _Monitor.__init__(self, monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience: expected an int >= 0, got {patience!r}")
        self.patience = patience
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = float(self.baseline)

    def on_epoch_end(self, epoch, logs=None):
        v = self.value(logs)
        if self.improved(v):
            self.best = v
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback, _Monitor):
    """Save the model (with optimizer and scheduler state, so fit(resume_from=path) continues the
    run exactly) at the end of each epoch, or only when `monitor` improves (save_best_only).
    `path` may contain "{epoch}" (1-based) and any logged key, e.g. "ckpt-{epoch:02d}.safetensors".
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto",
                 save_optimizer=True):
        _Monitor.__init__(self, monitor, mode, 0.0)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self.last_saved = None

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            v = self.value(logs)
            if not self.improved(v):
                return
            self.best = v
        path = self.path.format(epoch=epoch + 1, **{k: v for k, v in logs.items()
                                                     if isinstance(v, (int, float, np.floating))})
        self.trainer.save_checkpoint(path, epoch + 1, save_optimizer=self.save_optimizer)
        self.last_saved = path


class LambdaCallback(Callback):
    """A callback from plain functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."""

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_batch_begin", "on_batch_end", "on_backward_end")

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if name not in self._HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; expected one of "
                                 f"{self._HOOKS}")
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable")
            setattr(self, name, fn)
