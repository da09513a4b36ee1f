"""Learning-rate schedules with torch.optim.lr_scheduler's values and call pattern.

    sched = StepLR(opt, step_size=10, gamma=0.1)
    for epoch in range(epochs):
        train_one_epoch(...)        # opt.step() per batch
        sched.step()                # ReduceLROnPlateau: sched.step(val_loss)

Each scheduler writes ``lr`` into every param group of the optimizer (any object with
``param_groups``: a fastnn optimizer, or a torch one), remembers ``initial_lr`` there as torch
does, and uses torch's recursive ("chainable") formulas, so the values match torch's step for
step. ``state_dict()`` is JSON-able; ``load_state_dict()`` restores the position exactly.

``LinearWarmup(opt, warmup_steps, start_factor, after=None)`` ramps linearly from
start_factor * lr to lr (torch's LinearLR) and then hands over to ``after`` (torch's
SequentialLR([LinearLR, after], milestones=[warmup_steps])). ``scale_lr`` is the linear scaling
rule of Goyal et al. (2017).
"""
import math
import numbers

import numpy as np


def _is_int(v):
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_int(v, name, cls, lo=1):
    if not _is_int(v) or v < lo:
        raise ValueError(f"{cls}: {name}: expected an int >= {lo}, got {v!r}")
    return int(v)


def _check_real(v, name, cls, lo=None, hi=None, lo_open=False, hi_open=False):
    ok = _is_real(v) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        rng = ""
        if lo is not None or hi is not None:
            rng = (f" in {'(' if lo_open else '['}{'-inf' if lo is None else lo}, "
                   f"{'inf' if hi is None else hi}{')' if hi_open or hi is None else ']'}")
        raise ValueError(f"{cls}: {name}: expected a finite number{rng}, got {v!r}")
    return float(v)


def _check_choice(*choices):
    def check(v, name, cls):
        if v not in choices:
            raise ValueError(f"{cls}: {name}: expected one of {list(choices)}, got {v!r}")
        return v
    return check


def _int_from(lo):
    return lambda v, name, cls: _check_int(v, name, cls, lo=lo)


def _real_from(**kw):
    return lambda v, name, cls: _check_real(v, name, cls, **kw)


def _lrs(v, name, cls):
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"{cls}: {name}: expected a list of learning rates, got {v!r}")
    return [_check_real(x, name, cls, lo=0.0) for x in v]


def scale_lr(base_lr, base_batch_size, batch_size):
    """Linear scaling rule (Goyal et al. 2017): the learning rate that keeps training dynamics
    when the batch size changes from ``base_batch_size`` to ``batch_size``:
    ``base_lr * batch_size / base_batch_size``. Pair it with a warmup for large factors."""
    base_lr = _check_real(base_lr, "base_lr", "scale_lr", lo=0.0)
    base_batch_size = _check_int(base_batch_size, "base_batch_size", "scale_lr")
    batch_size = _check_int(batch_size, "batch_size", "scale_lr")
    return base_lr * batch_size / base_batch_size


class LRScheduler:
    """Base class: torch.optim.lr_scheduler.LRScheduler's bookkeeping (``last_epoch``,
    ``base_lrs`` from each group's ``initial_lr``, one initial step at construction)."""

    requires_metric = False  # True for schedulers whose step() takes the monitored value
    _state_keys = ()          # constructor settings saved in state_dict (with the position)
    # How load_state_dict checks each saved entry, as the constructor does: key -> check(value,
    # name, cls) returning the value to store (every key of _state_keys needs one).
    _state_checks = {"last_epoch": _int_from(-1), "_step_count": _int_from(0),
                     "base_lrs": _lrs, "_last_lr": _lrs}

    def __init__(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__}: optimizer: expected an optimizer with "
                            f"param_groups, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = -1
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _group_lrs(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def get_lr(self):
        """The next learning rates (torch's recursive form); called by step()."""
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates of the last step, one per param group."""
        return list(self._last_lr)

    def step(self):
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form()
        for g, lr in zip(self.optimizer.param_groups, values):
            g["lr"] = float(lr)
        self._last_lr = self._group_lrs()

    def _closed_form(self):
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self):
        """JSON-able position and settings."""
        d = {"type": type(self).__name__, "last_epoch": int(self.last_epoch),
             "_step_count": int(self._step_count), "base_lrs": [float(x) for x in self.base_lrs],
             "_last_lr": [float(x) for x in self._last_lr]}
        for k in self._state_keys:
            d[k] = getattr(self, k)
        return d

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``; ValueError (scheduler unchanged) when it does not fit."""
        name = type(self).__name__
        sd = state_dict
        if not hasattr(sd, "keys"):
            raise TypeError(f"{name}.load_state_dict: expected a mapping, got {type(sd).__name__}")
        if sd.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: type: expected {name!r}, got "
                             f"{sd.get('type')!r}")
        keys = ("last_epoch", "_step_count", "base_lrs", "_last_lr") + tuple(self._state_keys)
        missing = [k for k in keys if k not in sd]
        if missing:
            raise ValueError(f"{name}.load_state_dict: missing key(s) {missing}")
        checked = {}
        for k in keys:
            check = self._state_checks.get(k) or LRScheduler._state_checks[k]
            checked[k] = check(sd[k], k, f"{name}.load_state_dict")
        n = len(self.optimizer.param_groups)
        for k in ("base_lrs", "_last_lr"):
            if len(checked[k]) != n:
                raise ValueError(f"{name}.load_state_dict: {k}: expected {n} values (one per "
                                 f"param group), got {len(checked[k])}")
        self._load_extra(sd)
        for k in keys:
            v = checked[k]
            setattr(self, k, list(v) if isinstance(v, (list, tuple)) else v)

    def _load_extra(self, sd):
        """Subclasses check (and stage) nested state here, before anything is assigned."""


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size) (torch.optim.lr_scheduler.StepLR)."""

    _state_keys = ("step_size", "gamma")
    _state_checks = dict(LRScheduler._state_checks, step_size=_int_from(1),
                         gamma=_real_from(lo=0.0, lo_open=True))

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _check_int(step_size, "step_size", "StepLR")
        self.gamma = _check_real(gamma, "gamma", "StepLR", lo=0.0, lo_open=True)
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form(self):
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = initial_lr * gamma ** epoch (torch.optim.lr_scheduler.ExponentialLR)."""

    _state_keys = ("gamma",)
    _state_checks = dict(LRScheduler._state_checks, gamma=_real_from(lo=0.0, lo_open=True))

    def __init__(self, optimizer, gamma):
        self.gamma = _check_real(gamma, "gamma", "ExponentialLR", lo=0.0, lo_open=True)
        super().__init__(optimizer)

    def get_lr(self):
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form(self):
        return [b * self.gamma ** self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, continued
    periodically past T_max as torch does (torch.optim.lr_scheduler.CosineAnnealingLR)."""

    _state_keys = ("T_max", "eta_min")
    _state_checks = dict(LRScheduler._state_checks, T_max=_int_from(1), eta_min=_real_from(lo=0.0))

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _check_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _check_real(eta_min, "eta_min", "CosineAnnealingLR", lo=0.0)
        super().__init__(optimizer)

    def get_lr(self):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:
            return [lo + (b - lo) * (1 + math.cos(e * math.pi / T)) / 2 for b in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            return [lr + (b - lo) * (1 - math.cos(math.pi / T)) / 2
                    for b, lr in zip(self.base_lrs, self._group_lrs())]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (lr - lo) + lo for lr in self._group_lrs()]

    def _closed_form(self):
        return [self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch
                                                                  / self.T_max)) / 2
                for b in self.base_lrs]


class LinearWarmup(LRScheduler):
    """Linear warmup from ``start_factor * lr`` to ``lr`` over ``warmup_steps`` calls of step()
    (``warmup_epochs`` is the same count under another name: the unit is whatever you step per),
    then the ``after`` schedule, started afresh at the warm-up's end.

    Alone it equals torch's ``LinearLR(opt, start_factor, 1.0, total_iters=warmup_steps)``; with
    ``after`` it equals ``SequentialLR(opt, [LinearLR(...), after], milestones=[warmup_steps])``.
    ``after`` may be any scheduler here on the same optimizer, including ReduceLROnPlateau (then
    step(metric) is forwarded to it once the warm-up is over) or another LinearWarmup.
    """

    _state_keys = ("warmup_steps", "start_factor")
    _state_checks = dict(LRScheduler._state_checks, warmup_steps=_int_from(1),
                         start_factor=_real_from(lo=0.0, hi=1.0, lo_open=True))

    def __init__(self, optimizer, warmup_steps=None, start_factor=0.1, after=None, *,
                 warmup_epochs=None):
        cls = "LinearWarmup"
        if (warmup_steps is None) == (warmup_epochs is None):
            raise ValueError(f"{cls}: give exactly one of warmup_steps and warmup_epochs")
        n = warmup_steps if warmup_epochs is None else warmup_epochs
        self.warmup_steps = _check_int(n, "warmup_steps" if warmup_epochs is None
                                       else "warmup_epochs", cls)
        self.start_factor = _check_real(start_factor, "start_factor", cls, lo=0.0, hi=1.0,
                                        lo_open=True)
        if after is not None:
            if not isinstance(after, LRScheduler):
                raise TypeError(f"{cls}: after: expected a fastnn scheduler, got "
                                f"{type(after).__name__}")
            if after.optimizer is not optimizer:
                raise ValueError(f"{cls}: after: must schedule the same optimizer")
        self.after = after
        self.requires_metric = bool(after is not None and after.requires_metric)
        if after is not None:
            # As SequentialLR: back to the initial lrs, and undo the step `after` made when it
            # was built (it restarts at epoch 0 when the warm-up ends).
            for g in optimizer.param_groups:
                g["lr"] = g.setdefault("initial_lr", g["lr"])
            if not after.requires_metric:
                after.last_epoch -= 1
        super().__init__(optimizer)

    def step(self, metric=None):
        """Advance one step; ``metric`` is forwarded to a ReduceLROnPlateau ``after``."""
        if self.after is not None and self.last_epoch + 1 >= self.warmup_steps and \
                not self._is_initial:
            self._step_count += 1
            self.last_epoch += 1
            if self.after.requires_metric:
                if self.last_epoch == self.warmup_steps:
                    for g, b in zip(self.optimizer.param_groups, self.base_lrs):
                        g["lr"] = float(b)
                    self.after._last_lr = self._group_lrs()
                else:
                    if metric is None:
                        raise ValueError("LinearWarmup: step: the wrapped ReduceLROnPlateau "
                                         "needs the monitored value: step(metric)")
                    self.after.step(metric)
            elif self.last_epoch == self.warmup_steps:
                self.after._update_lr(0)
            else:
                self.after.step()
            self._last_lr = self._group_lrs()
            return
        super().step()

    def get_lr(self):
        e, sf, W = self.last_epoch, self.start_factor, self.warmup_steps
        if e == 0:
            return [lr * sf for lr in self._group_lrs()]
        if self._is_initial or e > W:
            return self._group_lrs()
        return [lr * (1.0 + (1.0 - sf) / (W * sf + (e - 1) * (1.0 - sf)))
                for lr in self._group_lrs()]

    def _closed_form(self):
        e, sf, W = self.last_epoch, self.start_factor, self.warmup_steps
        if self.after is None or e < W:
            return [b * (sf + (1.0 - sf) * min(W, e) / W) for b in self.base_lrs]
        if self.after.requires_metric:
            return list(self.base_lrs)
        self.after.last_epoch = e - W
        return self.after._closed_form()

    def state_dict(self):
        d = super().state_dict()
        d["after"] = None if self.after is None else self.after.state_dict()
        return d

    def _load_extra(self, sd):
        if (sd.get("after") is None) != (self.after is None):
            raise ValueError("LinearWarmup.load_state_dict: after: the saved schedule and this "
                             "one differ in whether a scheduler follows the warm-up")
        if self.after is not None:
            try:
                self.after.load_state_dict(sd["after"])  # all or nothing, as this one
            except (TypeError, ValueError) as e:
                raise type(e)(f"LinearWarmup.load_state_dict: after: {e}") from None


class ReduceLROnPlateau(LRScheduler):
    """Multiply lr by ``factor`` once the monitored value has not improved for more than
    ``patience`` steps (torch.optim.lr_scheduler.ReduceLROnPlateau): ``step(metric)``.
    mode 'min' or 'max'; threshold_mode 'rel' (better = beyond best * (1 -+ threshold)) or 'abs';
    ``cooldown`` steps after a reduction are not counted; lr never goes below ``min_lr`` (a float
    or one per group); reductions smaller than ``eps`` are skipped."""

    requires_metric = True
    _state_keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
                   "min_lrs", "eps", "best", "num_bad_epochs", "cooldown_counter")
    _state_checks = dict(
        LRScheduler._state_checks, mode=_check_choice("min", "max"),
        factor=_real_from(lo=0.0, hi=1.0, hi_open=True), patience=_int_from(0),
        threshold=_real_from(lo=0.0), threshold_mode=_check_choice("rel", "abs"),
        cooldown=_int_from(0), min_lrs=_lrs, eps=_real_from(lo=0.0),
        best=lambda v, name, cls: None if v is None else _check_real(v, name, cls),
        num_bad_epochs=_int_from(0), cooldown_counter=_int_from(0))

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        cls = "ReduceLROnPlateau"
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{cls}: optimizer: expected an optimizer with param_groups, got "
                            f"{type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{cls}: mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{cls}: threshold_mode: expected 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.factor = _check_real(factor, "factor", cls, lo=0.0, hi=1.0, hi_open=True)
        self.patience = _check_int(patience, "patience", cls, lo=0)
        self.threshold = _check_real(threshold, "threshold", cls, lo=0.0)
        self.cooldown = _check_int(cooldown, "cooldown", cls, lo=0)
        self.eps = _check_real(eps, "eps", cls, lo=0.0)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{cls}: min_lr: expected {n} values (one per param group), "
                                 f"got {len(min_lr)}")
            self.min_lrs = [_check_real(v, "min_lr", cls, lo=0.0) for v in min_lr]
        else:
            self.min_lrs = [_check_real(min_lr, "min_lr", cls, lo=0.0)] * n
        self.mode, self.threshold_mode = mode, threshold_mode
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._step_count = 0
        self._last_lr = self._group_lrs()
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metric):
        try:
            current = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau: step: metric: expected a number, got "
                            f"{metric!r}") from None
        self._step_count += 1
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            for g, lo in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, lo)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def state_dict(self):
        d = super().state_dict()
        d["best"] = None if math.isinf(self.best) else float(self.best)  # strict-JSON safe
        return d

    def load_state_dict(self, state_dict):
        best = state_dict.get("best", 0.0) if hasattr(state_dict, "get") else None
        super().load_state_dict(state_dict)
        if best is None:
            self.best = math.inf if self.mode == "min" else -math.inf
