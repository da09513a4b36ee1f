"""fit / evaluate / predict: a Keras-shaped training loop over fastnn modules.

Every argument is checked before any training starts. The per-epoch random streams (shuffling,
dropout, augmentation) are derived from (seed, epoch), so a run resumed from a checkpoint continues
exactly as the uninterrupted run would have.
"""
import contextlib
import math
import numbers
import time

import numpy as np

from fastnn import _random
from fastnn.nn.loss import CrossEntropyLoss, _Pointwise, non_integral_position
from fastnn.nn._calls import inference_mode
from fastnn.nn.embedding import takes_indices
from fastnn.nn.module import Module
from fastnn.train.metrics import resolve_metrics as _resolve_metrics
from fastnn.train.callbacks import Callback
from fastnn.train.progress import epoch_bar as _progress, epoch_line


def _forward_state(model):
    """Copies of what a training forward changes in place -- BatchNorm running statistics and
    their counters -- so a step that is withheld leaves none of its batch behind."""
    buffers = [(b, b.copy()) for b in model.buffers() if b is not None]
    counters = [(m, m.num_batches_tracked) for m in model.modules()
                if hasattr(m, "num_batches_tracked")]
    return buffers, counters


def _restore_forward_state(state):
    buffers, counters = state
    for b, saved in buffers:
        b[...] = saved
    for m, n in counters:
        m.num_batches_tracked = n


class TrainingDiverged(FloatingPointError):
    """The loss (or, where fit measures it, the gradient norm) became NaN or infinite; training
    stopped before the bad step was applied. ``.origin``: the first layer where a non-finite
    value appears when the batch is re-run with checks (a
    fastnn.train.diagnostics.NonFiniteOrigin, or None)."""

    origin = None


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


# ---- argument checks ------------------------------------------------------------------------------

def _check_int(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    return int(v)


def _as_inputs(x, y, name="x"):
    """``x`` as one array, or -- for a model with several inputs -- a tuple of arrays with the same
    number of samples; y checked against them (see ``_as_arrays``)."""
    if isinstance(x, (tuple, list)):
        if not x:
            raise ValueError(f"{name}: expected an array or a tuple of arrays, got an empty "
                             f"{type(x).__name__}")
        xs = [_as_arrays(xi, None, f"{name}[{i}]")[0] for i, xi in enumerate(x)]
        n = {len(xi) for xi in xs}
        if len(n) != 1:
            raise ValueError(f"{name}: the inputs differ in length: "
                             f"{[len(xi) for xi in xs]} samples")
        _, y = _as_arrays(xs[0], y, name)
        return _Inputs(xs), y
    return _as_arrays(x, y, name)


class _Inputs(tuple):
    """The inputs of a model with several: sliced together, passed as ``model(*batch)``."""

    def __len__(self):
        return len(self[0]) if tuple.__len__(self) else 0

    def take(self, idx):
        return _Inputs(xi[idx] for xi in tuple.__iter__(self))

    def __getitem__(self, idx):
        if isinstance(idx, (slice, np.ndarray)):
            return self.take(idx)
        return tuple.__getitem__(self, idx)


def _call(model, xb):
    if isinstance(xb, _Inputs):
        return model(*[_to_float(v) for v in tuple.__iter__(xb)])
    # A model that starts with an Embedding takes integer indices as they are.
    return model(xb if takes_indices(model) and np.asarray(xb).dtype.kind in "iu"
                 else _to_float(xb))


def _backward(model, g):
    """The training step's backward: parameter gradients only (the data needs no gradient, so
    the first layers skip their dX)."""
    g = g if isinstance(g, tuple) else (g,)
    model.backward(*g, input_grad=False)


def _as_arrays(x, y, name="x"):
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        # 1-D is refused: its slices would reach the model as single samples (Linear takes one)
        raise ValueError(f"{name}: expected a non-empty array with samples on axis 0 (N, ...), "
                         f"got shape {x.shape}" + ("; for one sample pass x[None], or call "
                                                    "model(x) in eval mode" if x.ndim == 1 else ""))
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{name} and its labels differ in length: {x.shape[0]} samples vs "
                             f"{y.shape[0] if y.ndim else 'a scalar'} labels")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{name}: labels/targets must be numeric, got dtype {y.dtype}")
    return x, y


@contextlib.contextmanager
def _keep_modes(model):
    """Restore, after the block (also when it raises), the train/eval mode of the model and of
    each of its layers as they were before it (a layer switched to eval by hand stays so)."""
    if isinstance(model, Module):
        saved = [(m, m.training) for m in model.modules()]
    elif hasattr(model, "training") and callable(getattr(model, "train", None)):
        saved = bool(model.training)  # e.g. a QuantizedModel: always False
    else:
        saved = None  # a plain callable has no mode
    try:
        yield
    finally:
        if isinstance(saved, list):
            for m, training in saved:
                object.__setattr__(m, "training", training)
        elif saved is not None:
            model.train(saved)


@contextlib.contextmanager
def _eval_mode(model):
    """``model`` in eval mode inside the block. A Module runs under ``inference_mode()``: eval
    behaviour for this thread only, nothing kept, no module's flag touched -- so predicting in
    one thread never disturbs ``fit`` training the same model in another. Other models (a
    QuantizedModel) are switched and restored (``_keep_modes``)."""
    if isinstance(model, Module):
        with inference_mode():
            yield
        return
    with _keep_modes(model):
        if callable(getattr(model, "train", None)):
            model.train(False)
        yield


def _check_trainable(model):
    from fastnn.quant.model import QuantizedModel
    if isinstance(model, QuantizedModel):
        raise TypeError("model: a QuantizedModel runs inference only and cannot be trained; fit "
                        "the float model, then quantize it again (evaluate and predict take it)")
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module, got {type(model).__name__}")
    fixed = [f"{name or '<model>'} ({type(m).__name__})" for name, m in model.named_modules()
             if getattr(m, "inference_only", False)]
    if fixed:
        raise TypeError(f"model: layers {', '.join(fixed)} are inference-only and have no "
                        "backward; train the dense (pruned) model, then convert it with "
                        "fastnn.prune.to_sparse again (evaluate and predict take this one)")


def _check_inference_model(model):
    if not callable(model):
        raise TypeError(f"model: expected a fastnn model (a fastnn.nn.Module or a "
                        f"fastnn.quant.QuantizedModel), got {type(model).__name__}")


def _whole_labels(y, name, expected):
    i = non_integral_position(y)
    if i is not None:
        raise ValueError(f"{name}: {expected}, got the non-integral value "
                         f"{float(y.reshape(-1)[i])} at position {i}")
    return y.astype(np.int64)


def _check_targets(model, loss_fn, x, y, name):
    """Targets must fit the loss and the model's output (one sample's, in eval mode), checked
    before training so a bad target never reaches a training step. Returns y; for
    CrossEntropyLoss whole-number float labels come back as int64."""
    with _eval_mode(model):
        out = _call(model, x[:1])
    if isinstance(out, tuple):  # several outputs: a custom loss that takes them all checks them
        return y
    out_shape = np.shape(out)[1:]
    if isinstance(loss_fn, CrossEntropyLoss):
        if len(out_shape) != 1:
            raise ValueError(f"model: CrossEntropyLoss expects logits of shape (N, C), the model "
                             f"gives ({', '.join(['N', *map(str, out_shape)])})")
        n = out_shape[0]
        expected = f"CrossEntropyLoss expects integer class indices in [0, {n}) of shape (N,)"
        if y.ndim != 1:
            hint = (" (one-hot / probability targets are not supported: pass y.argmax(1))"
                    if y.shape[1:] == out_shape else "")
            raise ValueError(f"{name}: {expected}, got targets of shape {y.shape}{hint}")
        if y.dtype.kind == "f":
            y = _whole_labels(y, name, expected)
        _check_class_range(y, n, name)
    elif isinstance(loss_fn, _Pointwise):
        if y.shape[1:] != out_shape and not (out_shape == (1,) and y.ndim == 1):
            want = ", ".join(["N", *map(str, out_shape)])
            raise ValueError(f"{name}: {type(loss_fn).__name__} expects targets of the model's "
                             f"output shape ({want})" + (" or (N,)" if out_shape == (1,) else "")
                             + f", got {y.shape}")
    elif y.dtype.kind in "iu" and y.ndim == 1 and len(out_shape) == 1 and out_shape[0] > 1:
        _check_class_range(y, out_shape[0], name)  # a custom loss with class indices
    return y


def _check_class_range(y, n_classes, name):
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
        metrics="auto", verbose=1, seed=None, augment=None, resume_from=None,
        scheduler_interval="epoch", distributed=False):
    """Train `model` on (x, y); returns a History. The model's train/eval mode is restored when
    fit returns or raises: call ``model.eval()`` before using ``model(x)`` for inference.

    loss_fn: a fastnn.nn loss (``loss = loss_fn(out, y)``, ``loss_fn.backward()``). Targets are
      checked against it and the model's output before training: CrossEntropyLoss takes class
      indices (N,) in [0, C) (integers, or floats holding whole numbers); MSELoss, HuberLoss and
      BCEWithLogitsLoss take targets of the output's shape, or (N,) for one output (N, 1) (read
      as (N, 1), as Keras does; PyTorch would broadcast them to (N, N)).
    metrics: "auto" (default) follows the loss: accuracy for CrossEntropyLoss/BCEWithLogitsLoss,
      none for MSELoss/HuberLoss and custom losses (only the loss is logged); or names
      ("accuracy", "mae", "mse"), callables(output, target) -> float, or None. See
      fastnn.train.metrics.
    optimizer: a fastnn.optim optimizer over model.parameters().
    validation_data=(x_val, y_val) or validation_split (the last fraction of x, before shuffling).
    scheduler: a fastnn.optim.lr_scheduler scheduler, stepped once per epoch (one that needs a
      metric, e.g. ReduceLROnPlateau, gets val_loss, or loss without validation data), or after
      every batch with scheduler_interval="batch" (e.g. a LinearWarmup over warmup_steps).
    clip_grad_norm: clip the global gradient norm to this value before each step. A non-finite
      norm stops training before that step (TrainingDiverged), as a non-finite loss does.
    Divergence: TrainingDiverged names the first layer where a NaN/Inf appears, forward or
      backward (the batch re-run with checks: fastnn.train.diagnostics.find_nonfinite); with a
      fastnn.train.Diagnostics callback a non-finite gradient also stops before its step.
    augment: a callable(batch, rng) -> batch applied to each raw training batch before it is
      converted to float32 (e.g. fastnn.data.augment.Compose([...])).
    x: converted to float32 per batch, except integer x for a model that takes indices (one
      starting with an nn.Embedding: ``fastnn.nn.embedding.takes_indices``), which stays integer.
    seed: makes the run reproducible bit for bit (same thread count); streams are derived per epoch.
    resume_from: a checkpoint written by ModelCheckpoint/``fastnn.save(..., optimizer=...)``;
      training continues from the epoch after the one saved.
    distributed: data-parallel over MPI (under ``mpiexec``; see fastnn.distributed and
      docs/distributed.md): batch_size is per rank, the global batch batch_size * world_size.
    """
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
    _check_trainable(model)
    metric_fns = _resolve_metrics(metrics, loss_fn)
    if y is None:
        raise TypeError("y: expected an array of targets, got None")
    x, y = _as_inputs(x, y, "x")
    if isinstance(x, _Inputs) and augment is not None:
        raise ValueError("augment: not supported for a model with several inputs (augment each "
                         "input array before fit, or train through a DataLoader per input)")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError("validation_data: expected a tuple (x_val, y_val)")
        x_val, y_val = _as_inputs(validation_data[0], validation_data[1], "validation_data")
    elif validation_split > 0:
        n_val = int(round(len(x) * validation_split))
        if n_val < 1 or n_val >= len(x):
            raise ValueError(f"validation_split={validation_split} leaves {len(x) - n_val} "
                             f"training and {n_val} validation samples; both must be >= 1")
        x, x_val = x[:-n_val], x[-n_val:]
        y, y_val = y[:-n_val], y[-n_val:]
    else:
        x_val = y_val = None
    y = _check_targets(model, loss_fn, x, y, "y")
    if x_val is not None:
        y_val = _check_targets(model, loss_fn, x_val, y_val, "validation_data")

    with _keep_modes(model):  # the modes the model had, back when fit returns or raises
        return _fit(model, loss_fn, optimizer, x, y, x_val, y_val, batch_size, epochs, shuffle,
                    callbacks, scheduler, clip_grad_norm, metrics, metric_fns, verbose, seed,
                    augment, resume_from, scheduler_interval, bool(distributed))


def _fit(model, loss_fn, optimizer, x, y, x_val, y_val, batch_size, epochs, shuffle, callbacks,
         scheduler, clip_grad_norm, metrics, metric_fns, verbose, seed, augment, resume_from,
         scheduler_interval, distributed=False):
    from fastnn.data import DataLoader
    from fastnn.optim import clip_grad_norm_

    history = History()
    trainer = _Trainer(model, optimizer, scheduler, history, seed)
    initial_epoch = 0
    if resume_from is not None:
        initial_epoch = _resume(resume_from, model, optimizer, scheduler, history, seed, trainer)
    elif seed is not None:
        _random.manual_seed(seed)

    dist = None
    if distributed:
        from fastnn.distributed.fit import Plan
        dist = Plan(model, optimizer, batch_size)
        optimizer, callbacks, verbose = dist.optimizer, dist.callbacks(callbacks), \
            dist.verbose(verbose)
        batch_size = dist.global_batch
    all_callbacks = [history] + callbacks
    for cb in all_callbacks:
        cb.set_context(model, optimizer, scheduler, trainer)
    params = [p for p in model.parameters()]
    # x is converted to float32 as given (no rescaling: normalise inputs yourself, or iterate a
    # fastnn.data.DataLoader with scale/mean/std). Augmentation runs on the raw batch.
    loader_seed = trainer.loader_seed if trainer.loader_seed is not None else seed
    if isinstance(x, _Inputs):
        loader = _MultiLoader(x, y, batch_size, shuffle, loader_seed)
    elif augment is None and x.dtype.kind in "iu" and takes_indices(model):
        loader = _MultiLoader(x, y, batch_size, shuffle, loader_seed)  # indices stay integers
    else:
        loader = DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, drop_last=False,
                            augment=augment, scale=1.0, seed=loader_seed)
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
                if dist is not None:
                    xb, yb, weight = dist.local(xb, yb)
                for cb in all_callbacks:
                    cb.on_batch_begin(bi, {})
                before = _forward_state(model)
                out = _call(model, xb)
                loss = float(loss_fn(out, yb))
                if not math.isfinite(loss):
                    _restore_forward_state(before)  # the batch's BatchNorm statistics too
                    if bar is not None:
                        bar.close()
                    _diverged(model, loss_fn, optimizer, xb, yb, epoch, bi, n_batches,
                              f"the loss became {loss}")
                optimizer.zero_grad()
                _backward(model, loss_fn.backward())
                for cb in all_callbacks:
                    cb.on_backward_end(bi, {})
                if dist is not None:
                    dist.sync(weight)
                total = None
                if clip_grad_norm is not None:
                    total = clip_grad_norm_(params, clip_grad_norm)
                bad_grad = trainer.__dict__.pop("nonfinite_grad", None)
                if bad_grad is not None or (total is not None and not math.isfinite(total)):
                    _restore_forward_state(before)
                    if bar is not None:
                        bar.close()
                    _diverged(model, loss_fn, optimizer, xb, yb, epoch, bi, n_batches,
                              "the gradient " + (f"of {bad_grad} " if bad_grad else "norm ")
                              + "became non-finite")
                optimizer.step()
                if scheduler is not None and scheduler_interval == "batch":
                    scheduler.step()
                nb = len(xb) if dist is None else dist.nb
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
            if dist is not None:
                seen, loss_sum, metric_sums = dist.reduce(seen, loss_sum, metric_sums)
            logs = {"loss": loss_sum / max(seen, 1)}
            logs.update({k: metric_sums[k] / max(seen, 1) for k in metric_fns})
            train_time = time.perf_counter() - t0
            if x_val is not None:
                val = (dist.evaluate if dist is not None else _plain)(
                    evaluate, model, loss_fn, x_val, y_val, batch_size=max(batch_size, 256),
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
            if dist is not None:
                trainer.stop_training = dist.stop(trainer.stop_training)
            if trainer.stop_training:
                break
    finally:
        for cb in all_callbacks:
            cb.on_train_end({})
    return history


def _plain(evaluate_fn, *args, **kw):
    return evaluate_fn(*args, **kw)


def _diverged(model, loss_fn, optimizer, xb, yb, epoch, bi, n_batches, what):
    """Raise TrainingDiverged for a bad batch, naming where the first NaN/Inf appears (the batch
    re-run with checks on: fastnn.train.diagnostics.find_nonfinite)."""
    from fastnn.train.diagnostics import find_nonfinite
    try:
        origin = find_nonfinite(model, loss_fn, xb, yb)
    except Exception as e:  # the diagnosis must never hide the divergence itself
        origin, where = None, f" (locating it failed: {type(e).__name__}: {e})"
    else:
        where = (f" The first non-finite value appears at {origin}." if origin is not None
                 else " Re-run with checks, the batch stayed finite.")
    err = TrainingDiverged(
        f"training diverged: {what} at epoch {epoch + 1}, batch {bi + 1}/{n_batches}; the step "
        f"was not applied.{where} This usually means the learning rate is too high (it is "
        f"{optimizer.lr:g}): lower it, add gradient clipping (clip_grad_norm=1.0), or check the "
        f"inputs for NaN/Inf and their scaling.")
    err.origin = origin
    raise err


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
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        yield i, xb, _call(model, xb)


class _MultiLoader:
    """Batches of a several-input model's arrays (or of one integer array of indices, which the
    DataLoader would make float32), shuffled per epoch from (seed, epoch)."""

    def __init__(self, xs, y, batch_size, shuffle, seed):
        self.xs, self.y, self.batch_size, self.shuffle = xs, y, batch_size, shuffle
        self.seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return -(-len(self.xs) // self.batch_size)

    def __iter__(self):
        n = len(self.xs)
        idx = (np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle
               else np.arange(n))
        for i in range(0, n, self.batch_size):
            b = idx[i:i + self.batch_size]
            yield (self.xs.take(b) if isinstance(self.xs, _Inputs) else self.xs[b]), self.y[b]


def evaluate(model, loss_fn, x, y, *, batch_size=256, metrics="auto", verbose=0):
    """Mean loss and metrics over (x, y) in eval mode; returns {"loss": ..., "accuracy": ...}.

    model: any fastnn model -- a Module (dense, pruned, sparse) or a fastnn.quant.QuantizedModel.
    Its train/eval mode is restored when evaluate returns or raises. metrics: as in ``fit``
    ("auto" follows the loss)."""
    _check_inference_model(model)
    batch_size = _check_int("batch_size", batch_size, 1)
    metric_fns = _resolve_metrics(metrics, loss_fn)
    if y is None:
        raise TypeError("y: expected an array of targets, got None")
    x, y = _as_inputs(x, y, "x")
    sums = {"loss": 0.0, **{k: 0.0 for k in metric_fns}}
    with _eval_mode(model):
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
    """Model outputs for x in eval mode, batch by batch (the model's training mode is restored,
    also on error). model: a Module (dense, pruned, sparse) or a fastnn.quant.QuantizedModel."""
    _check_inference_model(model)
    batch_size = _check_int("batch_size", batch_size, 1)
    x, _ = _as_inputs(x, None, "x")
    with _eval_mode(model):
        outs = [tuple(np.array(o, copy=True) for o in out) if isinstance(out, tuple)
                else np.array(out, copy=True)
                for _, _, out in _batched_outputs(model, x, batch_size)]
    if outs and isinstance(outs[0], tuple):  # several outputs: a tuple of arrays
        return tuple(np.concatenate(parts, axis=0) for parts in zip(*outs))
    return np.concatenate(outs, axis=0)
