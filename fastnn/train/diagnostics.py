"""Training diagnostics: dead units, activation statistics, gradient norms, update ratios, and
where a NaN starts.

``Diagnostics(every=1)`` is a fit callback. On each measured epoch (every ``every``-th) it
attaches a probe to each activation layer (ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid, Tanh): the
C++ activation kernels then add their output's statistics -- element count, sum, sum of squares
and, per channel, how many values were > 0 -- into a float64 accumulator block by block while
they compute it (and the statistics of the gradient they pass back). No numpy pass runs over the
activations. A *unit* is a channel: a feature of an (N, C) output, a feature map of an NCHW one;
a unit *fired* when any of its values over the epoch was > 0 (for a ReLU: was not clamped); a
unit that never fired in the whole epoch is *dead*.

Per parameter it records the mean over the epoch's steps of the gradient's L2 norm (computed by
the C++ ``grad_norm`` right after backward, before clipping) and the mean update-to-weight ratio
||w_after - w_before|| / ||w_before|| (the rule of thumb: about 1e-3) over every
``update_every``-th step (default 10: the ratio costs a copy of the weights, so it is sampled).
``grad_stats=True`` also has the activation kernels' backward pass record the RMS of the gradient
each activation layer passes down ("grad_in_rms"; off by default: it costs as much as the
forward statistics).

Warnings (``DiagnosticsWarning``), thresholds being arguments:
  * a layer with more than ``dead_threshold`` (0.5) of its units dead -> He initialisation,
    a Leaky ReLU / ELU, a small positive bias, a lower learning rate;
  * a parameter whose mean gradient norm is below ``vanish_threshold`` (1e-7) -> vanishing
    gradients: He initialisation, ReLU-family activations instead of sigmoid/tanh, batch norm;
  * a gradient norm above ``explode_threshold`` (1e3) or not finite -> exploding gradients: a
    lower learning rate, gradient clipping (``fit(..., clip_grad_norm=1.0)``).

``find_nonfinite(model, loss_fn, x, y)`` re-runs one batch with checks on every layer (forward
outputs, then backward gradients) and names the first layer where a value became NaN or Inf;
fit calls it when it stops on a non-finite loss, so normal steps pay nothing.
"""
import math
import warnings

import numpy as np

from fastnn import _C
from fastnn.train.callbacks import Callback

__all__ = ["Diagnostics", "DiagnosticsWarning", "find_nonfinite", "NonFiniteOrigin"]


class DiagnosticsWarning(UserWarning):
    """A training problem Diagnostics detected (dead units, vanishing/exploding gradients)."""


def _label(name, m):
    return f"{name or '<model>'} ({type(m).__name__})"


def _activation_layers(model):
    from fastnn.nn.activation import _Elementwise
    return [(name, m) for name, m in model.named_modules() if isinstance(m, _Elementwise)]


class _Probe:
    """The accumulators of one activation layer for one epoch (filled by the C++ kernels)."""

    def __init__(self, backward=False):
        self.fwd = None
        self.bwd = None
        self.backward = backward

    def stats(self, shape, backward=False):
        channels = shape[1] if len(shape) >= 2 else (shape[0] if len(shape) == 1 else 1)
        if backward:
            if not self.backward:
                return None
            if self.bwd is None or self.bwd.size != 3 + channels:
                self.bwd = np.zeros(3 + channels)
            return self.bwd
        if self.fwd is None or self.fwd.size != 3 + channels:
            self.fwd = np.zeros(3 + channels)
        return self.fwd


def _mean_std(acc):
    n = acc[0]
    if n <= 0:
        return math.nan, math.nan
    mean = acc[1] / n
    return mean, math.sqrt(max(acc[2] / n - mean * mean, 0.0))


class Diagnostics(Callback):
    """Per-epoch training diagnostics measured inside the kernels (see the module doc).

    ``every``: measure every ``every``-th epoch (the others pay nothing). ``warn``: emit
    DiagnosticsWarning for the problems found. After (or during) fit: ``dead_fraction()``,
    ``grad_norms()``, ``update_ratios()``, ``activation_stats()`` and ``.history``
    ({"epoch": [...], "dead_fraction": {layer: [...]}, "act_mean", "act_std", "grad_in_rms":
    {layer: [...]}, "grad_norm", "update_ratio": {parameter: [...]}}), one entry per measured
    epoch. Layers are named as in ``model.named_modules()`` ("2"), parameters as in the
    state_dict ("2.weight")."""

    def __init__(self, every=1, warn=True, dead_threshold=0.5, vanish_threshold=1e-7,
                 explode_threshold=1e3, update_ratios=True, update_every=10, grad_stats=False):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected an int >= 1, got {every!r}")
        if isinstance(update_every, bool) or not isinstance(update_every, int) \
                or update_every < 1:
            raise ValueError(f"update_every: expected an int >= 1, got {update_every!r}")
        self.update_every = update_every
        self.grad_stats = bool(grad_stats)
        for name, v in (("dead_threshold", dead_threshold), ("vanish_threshold", vanish_threshold),
                        ("explode_threshold", explode_threshold)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{name}: expected a number >= 0, got {v!r}")
        self.every = every
        self.warn = bool(warn)
        self.dead_threshold = float(dead_threshold)
        self.vanish_threshold = float(vanish_threshold)
        self.explode_threshold = float(explode_threshold)
        self.track_updates = bool(update_ratios)
        self.history = {}
        self.warnings = []
        self._layers = []
        self._params = []
        self._active = False
        self._pending = None
        self._rates = {}

    # -- fit hooks ------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.history = {"epoch": [], "dead_fraction": {}, "act_mean": {}, "act_std": {},
                        "grad_in_rms": {}, "grad_norm": {}, "update_ratio": {}}
        self.warnings = []
        self._layers = [(name, m, _Probe(self.grad_stats))
                        for name, m in _activation_layers(self.model)]
        self._params = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        self._before = None
        if self.trainer is not None:
            self.trainer.diagnostics = self

    def on_epoch_begin(self, epoch, logs=None):
        self._pending = None
        self._active = epoch % self.every == 0
        if not self._active:
            return
        for _, m, probe in self._layers:
            probe.fwd = probe.bwd = None
            object.__setattr__(m, "_diag", probe)
        self._gsum = np.zeros(len(self._params))
        self._usum = np.zeros(len(self._params))
        self._steps = 0
        self._usteps = 0
        self._copied = False
        self._nonfinite_grad = None

    def on_batch_begin(self, batch, logs=None):
        self._copied = False
        if self._active and self.track_updates and self._steps % self.update_every == 0:
            self._copied = True
            if self._before is None:
                self._before = [np.empty_like(p.data) for _, p in self._params]
            for buf, (_, p) in zip(self._before, self._params):
                np.copyto(buf, p.data)

    def on_backward_end(self, batch, logs=None):
        """Called by fit after backward, before clipping and the optimizer step."""
        if not self._active:
            return
        for i, (name, p) in enumerate(self._params):
            g = _C.grad_norm([p.grad], 2.0)
            self._gsum[i] += g
            if not math.isfinite(g) and self._nonfinite_grad is None:
                self._nonfinite_grad = name
        if self._nonfinite_grad is not None and self.trainer is not None:
            self.trainer.nonfinite_grad = self._nonfinite_grad

    def on_batch_end(self, batch, logs=None):
        if not self._active:
            return
        self._steps += 1
        if self._copied:
            self._usteps += 1
            for i, (buf, (_, p)) in enumerate(zip(self._before, self._params)):
                w = _C.grad_norm([buf], 2.0)
                np.subtract(p.data, buf, out=buf)
                self._usum[i] += _C.grad_norm([buf], 2.0) / w if w > 0 else math.nan

    def on_epoch_end(self, epoch, logs=None):
        self.finish_epoch(epoch)

    def on_train_end(self, logs=None):
        for _, m, _ in self._layers:
            object.__setattr__(m, "_diag", None)
        self._before = None
        self._active = False

    # -- results --------------------------------------------------------------------------------
    def finish_epoch(self, epoch):
        """Close the measured epoch ``epoch`` (idempotent; fit's on_epoch_end calls it, and so
        does TensorBoard, whichever comes first). Returns whether the epoch was measured."""
        if self._pending == epoch:
            return True
        if not self._active:
            return False
        self._pending = epoch
        h = self.history
        h["epoch"].append(epoch)
        self._rates = {}
        for name, m, probe in self._layers:
            if probe.fwd is None:
                continue
            fired = probe.fwd[3:]
            self._rates[name] = fired / max(probe.fwd[0] / fired.size, 1.0)
            h["dead_fraction"].setdefault(name, []).append(float(np.mean(fired == 0)))
            mean, std = (float(v) for v in _mean_std(probe.fwd))
            h["act_mean"].setdefault(name, []).append(mean)
            h["act_std"].setdefault(name, []).append(std)
            if probe.bwd is not None and probe.bwd[0] > 0:
                h["grad_in_rms"].setdefault(name, []).append(
                    math.sqrt(probe.bwd[2] / probe.bwd[0]))
        steps = max(self._steps, 1)
        for i, (name, _) in enumerate(self._params):
            h["grad_norm"].setdefault(name, []).append(float(self._gsum[i] / steps))
            if self.track_updates:
                h["update_ratio"].setdefault(name, []).append(
                    float(self._usum[i] / self._usteps) if self._usteps else math.nan)
        for _, m, _ in self._layers:  # the next epoch attaches again if it is measured
            object.__setattr__(m, "_diag", None)
        self._active = False
        if self.warn:
            self._check(epoch)
        return True

    def _check(self, epoch):
        h = self.history
        labels = dict((name, _label(name, m)) for name, m, _ in self._layers)
        for name, vals in h["dead_fraction"].items():
            if vals and vals[-1] > self.dead_threshold:
                self._warn(f"epoch {epoch + 1}: layer {labels[name]}: {vals[-1]:.0%} of its units "
                           f"never fired (dying ReLUs). Remedies: He initialisation "
                           f"(nn.init.kaiming_normal_), a Leaky ReLU or ELU, a small positive "
                           f"bias (e.g. 0.01) in the layer before it, a lower learning rate.")
        for name, vals in h["grad_norm"].items():
            if not vals:
                continue
            g = vals[-1]
            if not math.isfinite(g) or g > self.explode_threshold:
                self._warn(f"epoch {epoch + 1}: parameter {name}: mean gradient norm {g:.3g} "
                           f"exceeds {self.explode_threshold:g} (exploding gradients). Remedies: "
                           f"a lower learning rate, gradient clipping (fit(..., "
                           f"clip_grad_norm=1.0)).")
            elif g < self.vanish_threshold:
                self._warn(f"epoch {epoch + 1}: parameter {name}: mean gradient norm {g:.3g} is "
                           f"below {self.vanish_threshold:g} (vanishing gradients). Remedies: He "
                           f"initialisation, ReLU-family activations instead of sigmoid/tanh, "
                           f"batch normalisation, a larger learning rate.")

    def _warn(self, msg):
        self.warnings.append(msg)
        warnings.warn(msg, DiagnosticsWarning, stacklevel=3)

    def _last(self, key, epoch):
        return {name: vals[epoch] for name, vals in self.history.get(key, {}).items() if vals}

    def dead_fraction(self, epoch=-1):
        """{layer name: fraction of its units that never fired} for a measured epoch (default:
        the last)."""
        return self._last("dead_fraction", epoch)

    def grad_norms(self):
        """{parameter name: [mean gradient L2 norm of each measured epoch]}."""
        return {k: list(v) for k, v in self.history.get("grad_norm", {}).items()}

    def update_ratios(self):
        """{parameter name: [mean ||update|| / ||weight|| of each measured epoch]}."""
        return {k: list(v) for k, v in self.history.get("update_ratio", {}).items()}

    def firing_rates(self):
        """{layer name: per-unit fraction of values > 0} of the last measured epoch."""
        return dict(self._rates)

    def activation_stats(self, epoch=-1):
        """{layer name: (mean, std) of its outputs} for a measured epoch (default: the last)."""
        means, stds = self._last("act_mean", epoch), self._last("act_std", epoch)
        return {k: (means[k], stds[k]) for k in means}


# ---- where a NaN starts ---------------------------------------------------------------------------

class NonFiniteOrigin:
    """Where find_nonfinite found the first NaN/Inf: ``layer`` (its name, e.g. "2"), ``label``
    ("2 (Linear)"), ``phase`` ("input", "forward", "loss" or "backward"), ``detail``."""

    def __init__(self, layer, label, phase, detail):
        self.layer, self.label, self.phase, self.detail = layer, label, phase, detail

    def __str__(self):
        if self.phase == "input":
            return "the input batch itself holds NaN or Inf"
        if self.phase == "loss":
            return f"the loss ({self.detail}) -- every layer's output was finite"
        return f"layer {self.label}, in the {self.phase} pass: {self.detail}"

    def __repr__(self):
        return f"NonFiniteOrigin({self.label!r}, {self.phase!r})"


def _finite(a):
    a = np.asarray(a)
    return a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def _many(v):
    return v if isinstance(v, (tuple, list)) else (v,)


def _bad_params(m):
    return [n for n, p in m._parameters.items() if not _finite(p.data)]


def find_nonfinite(model, loss_fn, x, y):
    """Re-run one training batch (x, y) with a NaN/Inf check after every layer's forward and
    backward; return a NonFiniteOrigin for the first non-finite value, or None when everything
    stays finite. The batch runs in training mode (as fit runs it); the model's modes, batch-norm
    statistics and parameter gradients are left as they were.
    Works on any model built of Modules (Sequential, Residual, nested, graph models whose
    Add / Concat nodes take several inputs); fusion is turned off for
    the re-run so every layer's own output is seen."""
    from fastnn.train.loop import _forward_state, _keep_modes, _restore_forward_state
    x = np.asarray(x)
    if not _finite(x):
        return NonFiniteOrigin(None, "<input>", "input", "")
    leaves = [(name, m) for name, m in model.named_modules() if not m._modules]
    found = []
    saved_grads = [(p, p.grad.copy()) for p in model.parameters()]
    state = _forward_state(model)

    def wrap(name, m):
        fwd, bwd = m.forward, m.backward

        def forward(*inp):  # several inputs for a graph's Add / Concat / Multiply
            out = fwd(*inp)
            if (not found and all(_finite(a) for a in inp)
                    and not all(_finite(o) for o in _many(out))):
                bad = _bad_params(m)
                detail = ("its output became non-finite from a finite input" if not bad else
                          f"its parameter(s) {', '.join(bad)} are already non-finite -- set or "
                          f"loaded so, or made so by an earlier update whose gradient "
                          f"overflowed in a backward pass (lower the learning rate, clip the "
                          f"gradients, or fit with Diagnostics() to stop at that step)")
                found.append(NonFiniteOrigin(name, _label(name, m), "forward", detail))
            return out

        def backward(*g):  # several output gradients for a graph's Split
            gi = bwd(*g)
            if not found and all(_finite(a) for a in g):
                bad = [n for n, p in m._parameters.items()
                       if p.requires_grad and not _finite(p.grad)]
                if bad or not all(_finite(a) for a in _many(gi)):
                    what = (f"the gradient of its {', '.join(bad)}" if bad
                            else "the gradient it passes to its input")
                    found.append(NonFiniteOrigin(name, _label(name, m), "backward",
                                                 f"{what} became non-finite from a finite "
                                                 f"incoming gradient"))
            return gi

        object.__setattr__(m, "forward", forward)
        object.__setattr__(m, "backward", backward)
        object.__setattr__(m, "forward_fused", lambda *args: None)

    modes = _keep_modes(model)
    modes.__enter__()
    try:
        model.train()  # as fit runs a batch
        for name, m in leaves:
            wrap(name, m)
        model.zero_grad()
        out = model(x.astype(np.float32, copy=False))
        if found:
            return found[0]
        loss = float(loss_fn(out, y))
        if not math.isfinite(loss):
            return NonFiniteOrigin(None, "<loss>", "loss", f"{type(loss_fn).__name__} gave {loss}")
        model.backward(loss_fn.backward())
        return found[0] if found else None
    finally:
        for _, m in leaves:
            for attr in ("forward", "backward", "forward_fused"):
                m.__dict__.pop(attr, None)
        _restore_forward_state(state)
        for p, g in saved_grads:
            np.copyto(p.grad, g)
        modes.__exit__(None, None, None)
