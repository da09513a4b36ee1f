"""GradualPruning: a fit callback raising weight sparsity along Zhu & Gupta's cubic schedule."""
import numbers

from fastnn.prune._common import check_choice, check_fraction, resolve_layers
from fastnn.prune._magnitude import SCOPES, magnitude_prune
from fastnn.train.callbacks import Callback

__all__ = ["GradualPruning"]


def _epoch(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"GradualPruning: {name}: expected an int >= 0, got {value!r}")
    return int(value)


class GradualPruning(Callback):
    """Magnitude pruning raised a little at a time while training recovers (Zhu & Gupta 2017,
    "To prune, or not to prune"): at the beginning of epoch t in {t0, t0 + dt, ..., end_epoch}
    the model is pruned (``magnitude_prune``) to

        s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (end_epoch - t0)) ** 3

    with t0 = start_epoch, dt = frequency, s_i = initial_sparsity, s_f = final_sparsity; the last
    step is always end_epoch (s = s_f), and epochs after it train with the final masks. Epochs
    are those ``fit`` reports (0-based); train for more than ``end_epoch`` epochs to fine-tune at
    the final sparsity. Pruned weights stay zero between steps (masks; see magnitude_prune).

    ``schedule()`` gives the planned (epoch, sparsity) steps; ``history`` the ones applied, as
    (epoch, target, weight sparsity reached). A fit resumed past some steps catches up at its
    first epoch.
    """

    def __init__(self, final_sparsity, start_epoch, end_epoch, frequency=1, initial_sparsity=0.0,
                 scope="layer", layers=None):
        where = "GradualPruning"
        self.final_sparsity = check_fraction(final_sparsity, "final_sparsity", where)
        self.initial_sparsity = check_fraction(initial_sparsity, "initial_sparsity", where)
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError(f"{where}: initial_sparsity ({initial_sparsity}) must be <= "
                             f"final_sparsity ({final_sparsity})")
        self.start_epoch = _epoch(start_epoch, "start_epoch")
        self.end_epoch = _epoch(end_epoch, "end_epoch")
        if self.end_epoch < self.start_epoch:
            raise ValueError(f"{where}: end_epoch ({end_epoch}) must be >= start_epoch "
                             f"({start_epoch})")
        if isinstance(frequency, bool) or not isinstance(frequency, numbers.Integral) \
                or frequency < 1:
            raise ValueError(f"{where}: frequency: expected an int >= 1, got {frequency!r}")
        self.frequency = int(frequency)
        self.scope = check_choice(scope, "scope", SCOPES, where)
        self.layers = layers
        self.history = []
        self._applied = None

    def sparsity_at_step(self, epoch):
        """The formula's value at a step epoch in [start_epoch, end_epoch]."""
        span = self.end_epoch - self.start_epoch
        if span == 0:
            return self.final_sparsity
        frac = min(max((epoch - self.start_epoch) / span, 0.0), 1.0)
        return (self.final_sparsity
                + (self.initial_sparsity - self.final_sparsity) * (1.0 - frac) ** 3)

    def schedule(self):
        """[(epoch, sparsity)]: the planned pruning steps."""
        steps = list(range(self.start_epoch, self.end_epoch, self.frequency)) + [self.end_epoch]
        return [(t, self.sparsity_at_step(t)) for t in steps]

    def target(self, epoch):
        """The sparsity in force during ``epoch`` (that of the last step at or before it), or
        None before start_epoch."""
        current = None
        for t, s in self.schedule():
            if t <= epoch:
                current = s
        return current

    def on_train_begin(self, logs=None):
        resolve_layers(self.model, self.layers, "GradualPruning")  # fail before training
        self._applied = None

    def on_epoch_begin(self, epoch, logs=None):
        s = self.target(epoch)
        if s is None or s <= 0.0 or (self._applied is not None and s <= self._applied):
            return
        report = magnitude_prune(self.model, s, scope=self.scope, layers=self.layers)
        self._applied = s
        self.history.append((epoch, s, report["total"]["weight_sparsity"]))
