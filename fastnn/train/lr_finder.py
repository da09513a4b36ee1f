"""The learning-rate range test (Smith 2015; fastai's ``lr_find``).

``lr_find`` trains for at most ``num_iter`` mini-batches while raising the learning rate
exponentially from ``start_lr`` to ``end_lr``, records the loss smoothed by an exponential moving
average (bias-corrected, beta 0.98), stops early once the smoothed loss exceeds 4x the best seen
(or is not finite), and then puts the model's weights and buffers, the parameter gradients, the
optimizer's state and learning rate and fastnn's random state back exactly as they were.

``suggestion`` is the learning rate where the smoothed loss falls fastest against log(lr) --
the most negative slope -- ignoring the first 10% and the last 5 recorded points, whose slopes
are noise (the start) and the blow-up (the end). Pick it, or a value a little below the minimum
of the curve divided by ten, as fastai's notes suggest.
"""
import math
import numbers

import numpy as np

from fastnn import _random

__all__ = ["lr_find", "LRFinderResult"]


class LRFinderResult:
    """``lrs`` and ``losses`` (smoothed) per iteration run, ``raw_losses``, ``suggestion``."""

    def __init__(self, lrs, losses, raw_losses, suggestion):
        self.lrs, self.losses, self.raw_losses = lrs, losses, raw_losses
        self.suggestion = suggestion

    def __repr__(self):
        s = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return f"LRFinderResult(iterations={len(self.lrs)}, suggestion={s})"

    def plot(self, path=None, ax=None):
        """Smoothed loss against the learning rate (log scale), the suggestion marked, on ``ax``
        or a new Figure. Saves a PNG to ``path`` when given; returns the matplotlib Axes. Needs
        matplotlib (``pip install fastnn[plot]``)."""
        from fastnn.plot import _figure, _save
        if ax is None:
            fig = _figure(figsize=(6, 4))
            ax = fig.subplots()
        ax.plot(self.lrs, self.losses, label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        if self.suggestion is not None:
            i = int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))
            ax.plot([self.suggestion], [self.losses[i]], "o", color="red",
                    label=f"suggestion {self.suggestion:.2g}")
        ax.legend()
        ax.set_title("learning-rate range test")
        if path is not None:
            _save(ax.figure, path)
        return ax


def _positive(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0 < v < math.inf):
        raise ValueError(f"{name}: expected a positive finite number, got {v!r}")
    return float(v)


def _suggest(lrs, losses):
    n = len(losses)
    if n < 3:
        return None
    lo, hi = max(n // 10, 0), n - 5
    if hi - lo < 3:
        lo, hi = 0, n
    slope = np.gradient(np.asarray(losses[lo:hi]), np.log(np.asarray(lrs[lo:hi])))
    if not np.isfinite(slope).any():
        return None
    return float(lrs[lo + int(np.nanargmin(slope))])


def lr_find(model, loss_fn, optimizer, x, y, start_lr=1e-7, end_lr=10, num_iter=100,
            batch_size=64, *, beta=0.98, diverge=4.0, seed=None):
    """Run the learning-rate range test; returns an LRFinderResult (``.lrs``, ``.losses``,
    ``.suggestion``, ``.plot(path)``). The model, its gradients, the optimizer and fastnn's
    random state are restored afterwards, bit for bit. Batches are drawn from a shuffled pass
    over (x, y), repeated when num_iter exceeds one epoch. See the module doc."""
    from fastnn.train.loop import (_as_arrays, _check_int, _check_targets, _check_trainable,
                                   _forward_state, _keep_modes, _to_float)
    start_lr = _positive("start_lr", start_lr)
    end_lr = _positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr: must exceed start_lr ({start_lr:g}), got {end_lr:g}")
    num_iter = _check_int("num_iter", num_iter, 2)
    batch_size = _check_int("batch_size", batch_size, 1)
    if not (isinstance(beta, numbers.Real) and 0 <= beta < 1):
        raise ValueError(f"beta: expected a number in [0, 1), got {beta!r}")
    diverge = _positive("diverge", diverge)
    _check_trainable(model)
    if not hasattr(optimizer, "state_dict") or not hasattr(optimizer, "lr"):
        raise TypeError(f"optimizer: expected a fastnn.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    if y is None:
        raise TypeError("y: expected an array of targets, got None")
    x, y = _as_arrays(x, y, "x")
    y = _check_targets(model, loss_fn, x, y, "y")

    weights = model.state_dict()
    grads = [(p, p.grad.copy()) for p in model.parameters()]
    counters = _forward_state(model)[1]
    opt_state = optimizer.state_dict()
    rng_state = _random.generator().bit_generator.state
    order_rng = np.random.default_rng(seed)
    ratio = end_lr / start_lr
    lrs, losses, raw = [], [], []
    avg, best = 0.0, math.inf
    try:
        with _keep_modes(model):
            model.train()
            order = order_rng.permutation(len(x))
            pos = 0
            for i in range(num_iter):
                if pos >= len(x):
                    order, pos = order_rng.permutation(len(x)), 0
                idx = np.sort(order[pos:pos + batch_size])
                pos += batch_size
                lr = start_lr * ratio ** (i / (num_iter - 1))
                optimizer.lr = lr
                out = model(_to_float(x[idx]))
                loss = float(loss_fn(out, y[idx]))
                if not math.isfinite(loss):
                    break
                avg = beta * avg + (1 - beta) * loss
                smooth = avg / (1 - beta ** (i + 1))
                lrs.append(lr)
                raw.append(loss)
                losses.append(smooth)
                if i > 0 and smooth > diverge * best:
                    break
                best = min(best, smooth)
                optimizer.zero_grad()
                model.backward(loss_fn.backward())
                optimizer.step()
    finally:
        model.load_state_dict(weights)
        for p, g in grads:
            np.copyto(p.grad, g)
        for m, n in counters:
            m.num_batches_tracked = n
        optimizer.load_state_dict(opt_state)
        _random.generator().bit_generator.state = rng_state
    return LRFinderResult(np.array(lrs), np.array(losses), np.array(raw), _suggest(lrs, losses))
