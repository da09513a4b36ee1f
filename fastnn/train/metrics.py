"""Metrics for fit / evaluate: ``metric(output, target) -> float``, averaged over samples.

Named metrics: "accuracy" (alias "acc"), "mae", "mse"; or any callable(output, target) -> float
(logged under its ``__name__``).

``metrics="auto"``, the default of fit and evaluate, follows the loss: "accuracy" for the
classification losses (CrossEntropyLoss, BCEWithLogitsLoss and their subclasses), no metric for
everything else -- MSELoss, HuberLoss, custom losses -- so a regression run logs only its loss
(Keras' default); pass ``metrics=["mae"]`` to add the mean absolute error.

"accuracy" reads the outputs the way the loss does. With BCEWithLogitsLoss: each logit > 0
against target > 0.5, element by element (binary and multi-label). Otherwise: for C > 1 outputs
per sample, the argmax against class indices (N,) -- or against the argmax of one-hot targets of
the output's shape; for one output per sample, logit > 0 against target > 0.5.

A target (N,) for an output (N, 1) is read as (N, 1), as the losses read it. A target of any
other shape the metric cannot pair with the output is a ValueError, never a silent broadcast.
"""
import numpy as np

from fastnn.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, align_target

__all__ = ["resolve_metrics", "default_metrics", "accuracy", "binary_accuracy", "mae", "mse"]

CLASSIFICATION_LOSSES = (CrossEntropyLoss, BCEWithLogitsLoss)


def _pair(out, y, name):
    out = np.asarray(out)
    y = np.asarray(align_target(out.shape, np.asarray(y)))
    if y.shape != out.shape:
        raise ValueError(f"{name}: target: expected shape {out.shape} (the output's; (N,) for "
                         f"one output per sample), got {y.shape}")
    return out, y


def binary_accuracy(out, y):
    """Fraction of elements where (logit > 0) == (target > 0.5)."""
    out, y = _pair(out, y, "accuracy")
    return float(np.mean((out > 0) == (y > 0.5)))


def accuracy(out, y):
    """Argmax accuracy for C > 1 outputs per sample; binary_accuracy for one output."""
    out = np.asarray(out)
    y = np.asarray(y)
    if out.ndim == 2 and out.shape[1] > 1:
        if y.shape == out.shape:  # one-hot (or probability) targets
            return float(np.mean(np.argmax(out, axis=1) == np.argmax(y, axis=1)))
        if y.shape != out.shape[:1]:
            raise ValueError(f"accuracy: target: expected class indices of shape "
                             f"({out.shape[0]},) or one-hot targets of shape {out.shape}, got "
                             f"{y.shape}")
        return float(np.mean(np.argmax(out, axis=1) == y))
    return binary_accuracy(out, y)


def mae(out, y):
    """Mean absolute error."""
    out, y = _pair(out, y, "mae")
    return float(np.mean(np.abs(out.astype(np.float64) - y)))


def mse(out, y):
    """Mean squared error."""
    out, y = _pair(out, y, "mse")
    return float(np.mean(np.square(out.astype(np.float64) - y)))


_NAMED = {"mae": mae, "mse": mse}


def default_metrics(loss_fn):
    """("accuracy",) for a classification loss, () otherwise (see the module doc)."""
    return ("accuracy",) if isinstance(loss_fn, CLASSIFICATION_LOSSES) else ()


def resolve_metrics(metrics, loss_fn):
    """{name: fn} for ``metrics`` ("auto", None, a name, a callable or a sequence of those)."""
    if isinstance(metrics, str) and metrics == "auto":
        metrics = default_metrics(loss_fn)
    if metrics is None:
        return {}
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics: expected 'auto', None, a metric name, a callable or a list "
                        f"of those, got {type(metrics).__name__}") from None
    resolved = {}
    for m in metrics:
        if callable(m):
            resolved[getattr(m, "__name__", "metric")] = m
        elif isinstance(m, str) and m in ("accuracy", "acc"):
            resolved["accuracy"] = (binary_accuracy if isinstance(loss_fn, BCEWithLogitsLoss)
                                    else accuracy)
        elif isinstance(m, str) and m in _NAMED:
            resolved[m] = _NAMED[m]
        else:
            raise ValueError(f"metrics: unknown metric {m!r}; expected 'auto', one of "
                             f"{sorted(['accuracy', 'acc', *_NAMED])} or a "
                             f"callable(output, target) -> float")
    return resolved
