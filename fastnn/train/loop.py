"""fit / evaluate / predict: a Keras-shaped training loop over fastnn modules.

Every argument is checked before any training starts. The per-epoch random streams (shuffling,
dropout, augmentation) are derived from (seed, epoch), so a run resumed from a checkpoint continues
exactly as the uninterrupted run would have.
"""
import math
import numbers
import time

import numpy as np

from fastnn import _random
from fastnn.train.callbacks import Callback
from fastnn.train.progress import epoch_bar as _progress, epoch_line


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; training stopped before the bad step was applied."""


class History(Callback):
    """``.history`` maps "loss", metrics, "val_loss", "val_<metric>" and "lr" to per-epoch lists;
    ``.epoch`` lists the (0-based) epochs run."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


# ---- metrics --------------------------------------------------------------------------------------

def _accuracy(out, y):
    out = np.asarray(out)
    y = np.asarray(y)
    if out.ndim == 2 and out.shape[1] > 1:
        return float(np.mean(np.argmax(out, axis=1) == y.reshape(-1)))
    # one logit per sample: binary classification with logits (threshold 0)
    return float(np.mean((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)))


_METRICS = {"accuracy": _accuracy, "acc": _accuracy}


def _resolve_metrics(metrics):
    if metrics is None:
        return {}
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    resolved = {}
    for m in metrics:
        if callable(m):
            resolved[getattr(m, "__name__", "metric")] = m
        elif isinstance(m, str) and m in _METRICS:
            resolved["accuracy" if m == "acc" else m] = _METRICS[m]
        else:
            raise ValueError(f"metrics: unknown metric {m!r}; expected one of "
                             f"{sorted(_METRICS)} or a callable(output, target) -> float")
    return resolved


# ---- argument checks ------------------------------------------------------------------------------

def _check_int(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    return int(v)


def _as_arrays(x, y, name="x"):
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty array with samples on axis 0, got shape "
                         f"{x.shape}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
    if y is not None:
        y = np.asarray(y)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"{name} and its labels differ in length: {x.shape[0]} samples vs "
                             f"{y.shape[0]} labels")
    return x, y


def _check_labels(model, loss_fn, x, y, name):
    """Class-index targets must lie in [0, n_classes) of the model's output."""
    if y is None or y.dtype.kind not in "iu":
        return
    was_training = model.training
    try:
        model.eval()
        out = np.asarray(model(_to_float(x[:1])))
    finally:
        model.train(was_training)
    if out.ndim == 2 and out.shape[1] > 1:
        n_classes = out.shape[1]
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{name}: labels must be class indices in [0, {n_classes}) for a model "
                             f"with {n_classes} outputs, got values in [{lo}, {hi}]")


def _to_float(xb):
    xb = np.asarray(xb)
    if xb.dtype != np.float32:
        xb = xb.astype(np.float32)
    return xb


# ---- the loop -----------------------------------------------------------------------------------

def _epoch_seed(seed, epoch):
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint64)[0]
               & np.uint64(2**63 - 1))


class _Trainer:
    """State shared with callbacks: stop flag and checkpointing."""

    def __init__(self, model, optimizer, scheduler, history, seed):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.history = history
        self.seed = seed
        self.loader_seed = None
        self.stop_training = False

    def save_checkpoint(self, path, epochs_done, save_optimizer=True):
        from fastnn.io import save
        extra = {
            "epoch": int(epochs_done),
            "seed": self.seed,
            "rng": _random.generator().bit_generator.state if self.seed is None else None,
            "loader_seed": self.loader_seed,
            "history": {k: [float(v) for v in vals] for k, vals in self.history.history.items()},
        }
        save(self.model, path, optimizer=self.optimizer if save_optimizer else None,
             scheduler=self.scheduler if save_optimizer else None, extra=extra)


def fit(model, loss_fn, optimizer, x, y, *, batch_size=64, epochs=1, validation_data=None,
        validation_split=0.0, shuffle=True, callbacks=(), scheduler=None, clip_grad_norm=None,
        metrics=("accuracy",), verbose=1, seed=None, augment=None, resume_from=None,
        scheduler_interval="epoch"):
    """Train `model` on (x, y); returns a History.

    loss_fn: a fastnn.nn loss (``loss = loss_fn(out, y)``, ``loss_fn.backward()``).
    optimizer: a fastnn.optim optimizer over model.parameters().
    validation_data=(x_val, y_val) or validation_split (the last fraction of x, before shuffling).
    scheduler: a fastnn.optim.lr_scheduler scheduler, stepped once per epoch (one that needs a
      metric, e.g. ReduceLROnPlateau, gets val_loss, or loss without validation data), or after
      every batch with scheduler_interval="batch" (e.g. a LinearWarmup over warmup_steps).
    clip_grad_norm: clip the global gradient norm to this value before each step.
    augment: a callable(batch, rng) -> batch applied to each raw training batch before it is
      converted to float32 (e.g. fastnn.data.augment.Compose([...])).
    seed: makes the run reproducible bit for bit (same thread count); streams are derived per epoch.
    resume_from: a checkpoint written by ModelCheckpoint/``fastnn.save(..., optimizer=...)``;
      training continues from the epoch after the one saved.
    """
    from fastnn.data import DataLoader
    from fastnn.optim import clip_grad_norm_

    # -- checks, all before anything changes --
    batch_size = _check_int("batch_size", batch_size, 1)
    epochs = _check_int("epochs", epochs, 0)
    if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split: expected a float in [0, 1), got {validation_split!r}")
    if clip_grad_norm is not None and not (isinstance(clip_grad_norm, numbers.Real)
                                           and clip_grad_norm > 0):
        raise ValueError(f"clip_grad_norm: expected a positive number or None, got "
                         f"{clip_grad_norm!r}")
    if seed is not None:
        _check_int("seed", seed, 0)
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval: expected 'epoch' or 'batch', got "
                         f"{scheduler_interval!r}")
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(f"scheduler: expected a scheduler with step(), got "
                        f"{type(scheduler).__name__}")
    if verbose not in (0, 1, 2, False, True):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if augment is not None and not callable(augment):
        raise TypeError("augment: expected a callable(batch, rng) or None")
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks: expected fastnn.train.Callback instances, got "
                            f"{type(cb).__name__}")
    metric_fns = _resolve_metrics(metrics)
    x, y = _as_arrays(x, y, "x")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data: expected a tuple (x_val, y_val)")
        x_val, y_val = _as_arrays(validation_data[0], validation_data[1], "validation_data")
    elif validation_split > 0:
        n_val = int(round(len(x) * validation_split))
        if n_val < 1 or n_val >= len(x):
            raise ValueError(f"validation_split={validation_split} leaves {len(x) - n_val} "
                             f"training and {n_val} validation samples; both must be >= 1")
        x, x_val = x[:-n_val], x[-n_val:]
        y, y_val = y[:-n_val], y[-n_val:]
    else:
        x_val = y_val = None
    _check_labels(model, loss_fn, x, y, "y")
    if x_val is not None:
        _check_labels(model, loss_fn, x_val, y_val, "validation_data")

    history = History()
    trainer = _Trainer(model, optimizer, scheduler, history, seed)
    initial_epoch = 0
    if resume_from is not None:
        initial_epoch = _resume(resume_from, model, optimizer, scheduler, history, seed, trainer)
    elif seed is not None:
        _random.manual_seed(seed)

    all_callbacks = [history] + callbacks
    for cb in all_callbacks:
        cb.set_context(model, optimizer, scheduler, trainer)
    params = [p for p in model.parameters()]
    # x is converted to float32 as given (no rescaling: normalise inputs yourself, or iterate a
    # fastnn.data.DataLoader with scale/mean/std). Augmentation runs on the raw batch.
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, drop_last=False,
                        augment=augment, scale=1.0,
                        seed=trainer.loader_seed if trainer.loader_seed is not None
                        else (seed if seed is not None else None))
    trainer.loader_seed = loader.seed
    n_batches = len(loader)

    for cb in all_callbacks:
        cb.on_train_begin({})
    try:
        for epoch in range(initial_epoch, epochs):
            if seed is not None:
                _random.manual_seed(_epoch_seed(seed, epoch))
            loader.set_epoch(epoch)
            lr_epoch = float(optimizer.lr)
            for cb in all_callbacks:
                cb.on_epoch_begin(epoch, {})
            model.train()
            bar = _progress(verbose, epoch, epochs, len(x))
            seen = 0
            loss_sum = 0.0
            metric_sums = {k: 0.0 for k in metric_fns}
            t0 = time.perf_counter()
            for bi, (xb, yb) in enumerate(loader):
                for cb in all_callbacks:
                    cb.on_batch_begin(bi, {})
                out = model(xb)
                loss = float(loss_fn(out, yb))
                if not math.isfinite(loss):
                    if bar is not None:
                        bar.close()
                    raise TrainingDiverged(
                        f"training diverged: the loss became {loss} at epoch {epoch + 1}, batch "
                        f"{bi + 1}/{n_batches}; the step was not applied. This usually means the "
                        f"learning rate is too high (it is {optimizer.lr:g}): lower it, add "
                        f"gradient clipping (clip_grad_norm=1.0), or check the inputs for NaN/Inf "
                        f"and their scaling.")
                optimizer.zero_grad()
                model.backward(loss_fn.backward())
                if clip_grad_norm is not None:
                    clip_grad_norm_(params, clip_grad_norm)
                optimizer.step()
                if scheduler is not None and scheduler_interval == "batch":
                    scheduler.step()
                nb = len(xb)
                seen += nb
                loss_sum += loss * nb
                blogs = {"loss": loss}
                for k, fn in metric_fns.items():
                    v = float(fn(out, yb))
                    metric_sums[k] += v * nb
                    blogs[k] = v
                for cb in all_callbacks:
                    cb.on_batch_end(bi, blogs)
                if bar is not None:
                    post = {"loss": f"{loss_sum / seen:.4f}"}
                    post.update({k: f"{metric_sums[k] / seen:.4f}" for k in metric_fns})
                    bar.set_postfix(batch=f"{bi + 1}/{n_batches}", **post, refresh=False)
                    bar.update(nb)
            logs = {"loss": loss_sum / max(seen, 1)}
            logs.update({k: metric_sums[k] / max(seen, 1) for k in metric_fns})
            train_time = time.perf_counter() - t0
            if x_val is not None:
                val = evaluate(model, loss_fn, x_val, y_val, batch_size=max(batch_size, 256),
                               metrics=metrics, verbose=0)
                logs.update({f"val_{k}": v for k, v in val.items()})
            logs["lr"] = lr_epoch
            if bar is not None:
                post = {k: f"{v:.4f}" for k, v in logs.items() if k != "lr"}
                bar.set_postfix(batch=f"{n_batches}/{n_batches}", **post, refresh=True)
                bar.close()
            elif verbose:  # verbose=2, or verbose=1 where no bar can be drawn (a log, CI)
                epoch_line(epoch, epochs, train_time, seen, logs)
            if scheduler is not None and scheduler_interval == "epoch":
                if getattr(scheduler, "requires_metric", False):
                    scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    scheduler.step()
            for cb in all_callbacks:
                cb.on_epoch_end(epoch, logs)
            if trainer.stop_training:
                break
    finally:
        for cb in all_callbacks:
            cb.on_train_end({})
    return history


def _resume(path, model, optimizer, scheduler, history, seed, trainer):
    from fastnn.io import load_checkpoint
    ckpt = load_checkpoint(path)
    saved_model = ckpt.model
    extra = ckpt.extra or {}
    if ckpt.optimizer is None:
        raise ValueError(f"resume_from: {path} holds no optimizer state (save it with "
                         "ModelCheckpoint or fastnn.save(..., optimizer=opt))")
    if seed is not None and extra.get("seed") not in (None, seed):
        raise ValueError(f"resume_from: the checkpoint was trained with seed={extra.get('seed')}, "
                         f"but fit was called with seed={seed}")
    model.load_state_dict(saved_model.state_dict())
    for (name, p), (_, q) in zip(model.named_parameters(), saved_model.named_parameters()):
        p.mask = None if q.mask is None else q.mask.copy()
    optimizer.load_state_dict(ckpt.optimizer)
    if scheduler is not None and ckpt.scheduler is not None:
        scheduler.load_state_dict(ckpt.scheduler)
    for k, vals in (extra.get("history") or {}).items():
        history.history[k] = list(vals)
    history.epoch = list(range(int(extra.get("epoch", 0))))
    trainer.loader_seed = extra.get("loader_seed")
    if extra.get("rng") is not None:
        _random.generator().bit_generator.state = extra["rng"]
    return int(extra.get("epoch", 0))


def _batched_outputs(model, x, batch_size):
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            xb = _to_float(x[i:i + batch_size])
            yield i, xb, model(xb)
    finally:
        model.train(was_training)


def evaluate(model, loss_fn, x, y, *, batch_size=256, metrics=("accuracy",), verbose=0):
    """Mean loss and metrics over (x, y) in eval mode; returns {"loss": ..., "accuracy": ...}."""
    batch_size = _check_int("batch_size", batch_size, 1)
    metric_fns = _resolve_metrics(metrics)
    x, y = _as_arrays(x, y, "x")
    sums = {"loss": 0.0, **{k: 0.0 for k in metric_fns}}
    for i, xb, out in _batched_outputs(model, x, batch_size):
        yb = y[i:i + batch_size]
        nb = len(xb)
        sums["loss"] += float(loss_fn(out, yb)) * nb
        for k, fn in metric_fns.items():
            sums[k] += float(fn(out, yb)) * nb
    res = {k: v / len(x) for k, v in sums.items()}
    if verbose:
        print(" - ".join(f"{k}: {v:.4f}" for k, v in res.items()))
    return res


def predict(model, x, batch_size=256):
    """Model outputs for x in eval mode, batch by batch (the model's training mode is restored)."""
    batch_size = _check_int("batch_size", batch_size, 1)
    x, _ = _as_arrays(x, None, "x")
    outs = [np.array(out, copy=True) for _, _, out in _batched_outputs(model, x, batch_size)]
    return np.concatenate(outs, axis=0)
