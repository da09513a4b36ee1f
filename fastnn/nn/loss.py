"""Losses: ``loss = fn(output, target)`` returns a Python float (an array for reduction="none")
and ``fn.backward()`` returns d loss / d output, shaped like output.

A custom loss subclasses ``Loss`` and defines ``forward(output, target)`` and ``backward()`` in
numpy; the built-in ones compute in C++ (fused, numerically stable; OpenMP).
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _calls

__all__ = ["LossValue", "Loss", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "HuberLoss"]

_REDUCTIONS = ("mean", "sum", "none")
_LOSS = _C.PointwiseLossKind  # kernel_table.h FASTNN_POINTWISE_LOSS_LIST
_MSE, _HUBER, _BCE = _LOSS.mse, _LOSS.huber, _LOSS.bce_logits


class Loss:
    """Base class of losses. Subclasses define ``forward(output, target)`` (store what backward
    needs, return the loss) and ``backward()`` (return d loss / d output).

    For reduction="none" the built-in losses return one loss per sample (per element for the
    pointwise ones) and ``backward(grad=None)`` takes the upstream gradient of that array
    (default ones, i.e. the gradient of its sum).
    """

    def __init__(self, reduction="mean"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of 'mean', 'sum', "
                             f"'none', got {reduction!r}")
        self.reduction = reduction
        self._saved = None

    def __call__(self, output, target):
        value = self.forward(output, target)
        if isinstance(value, float):  # PyTorch's idiom: loss.backward() reaches the model
            return LossValue(value, self, _calls.producer_of(output))
        return value

    def forward(self, output, target):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def _require_forward(self):
        if self._saved is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        return self._saved

    def get_config(self):
        return {"reduction": self.reduction}

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class LossValue(float):
    """A scalar loss (a float) that knows where it came from: ``loss.backward()`` runs the loss's
    backward, then the backward of the model call that produced its input -- PyTorch's
    ``optimizer.zero_grad(); loss = crit(model(x), y); loss.backward(); optimizer.step()``.
    Losses combine: ``(l1 + 0.5 * l2).backward()`` sends each term's gradient, weighted, to its
    model in one backward per model call (two losses on two outputs of one model included)."""

    def __new__(cls, value, loss=None, producer=None, terms=None):
        obj = super().__new__(cls, value)
        obj._terms = terms if terms is not None else [(1.0, loss, producer)]
        return obj

    def __add__(self, other):
        if isinstance(other, LossValue):
            return LossValue(float(self) + float(other), terms=self._terms + other._terms)
        if isinstance(other, numbers.Real):
            return LossValue(float(self) + float(other), terms=self._terms)
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, LossValue):
            return LossValue(float(self) * float(other),
                             terms=[(w * float(other), l, p) for w, l, p in self._terms])
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, LossValue):
            return self * (1.0 / float(other))
        return NotImplemented

    def backward(self):
        """Back-propagate into the model(s); parameters' ``.grad`` accumulate as usual."""
        calls = {}  # one backward per model call, its outputs' gradients summed
        for w, loss, producer in self._terms:
            if producer is None:
                raise ValueError(f"{loss!r}: loss.backward(): the loss's input was not produced by "
                                 "a fastnn model called in grad mode on this thread (or it was "
                                 "changed after); call model.backward(loss_fn.backward()) instead")
        for w, loss, producer in self._terms:
            g = loss.backward()
            if w != 1.0:
                g = g * np.float32(w)
            module, k, n, many = producer
            grads = calls.setdefault(id(module), (module, [None] * n, many))[1]
            grads[k] = g if grads[k] is None else grads[k] + g
        for module, grads, many in calls.values():
            if many:
                module.backward(*grads)
            else:
                module.backward(grads[0])


def _optional_vector(value, name, layer):
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{layer}: {name} must be a real array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{layer}: {name}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def non_integral_position(t):
    """Flat index of the first value of the float array ``t`` that is not a whole number (NaN,
    inf and |v| >= 2**53 included), or None when all are."""
    flat = np.asarray(t).reshape(-1)
    whole = np.isfinite(flat) & (np.abs(flat) < 2.0 ** 53)
    whole[whole] = flat[whole] == np.floor(flat[whole])
    return None if whole.all() else int(np.argmin(whole))


def _class_indices(target, output, layer):
    """Integer class targets as given; float ones that hold whole numbers (0.0, 1.0, ... as a
    float64 label array often does) as int64. Anything else is refused with what is expected."""
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    if t.dtype.kind != "f":
        return target  # integers go to C++ as they are; other dtypes are refused there
    out = np.shape(output)
    n_classes = out[1] if len(out) == 2 else "C"
    expected = f"expected integer class indices in [0, {n_classes}) of shape (N,)"
    if len(out) == 2 and t.shape == out:
        raise ValueError(f"{layer}: target: {expected}, got an array of the output's shape "
                         f"{t.shape} (class probabilities / one-hot targets are not supported: "
                         f"pass target.argmax(1))")
    i = non_integral_position(t)
    if i is not None:
        raise ValueError(f"{layer}: target: {expected}, got the non-integral value "
                         f"{float(t.reshape(-1)[i])} at position {i}")
    return t.astype(np.int64)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (N, C) and integer class targets (N,), as PyTorch's.
    Float targets holding whole numbers (e.g. labels 0.0 ... 9.0 in float64) are taken as class
    indices (PyTorch refuses them); any other float target is refused (ValueError).

    weight (C,): per-class weights; with reduction="mean" the sum of the per-sample losses is
    divided by the sum of the targets' weights. label_smoothing in [0, 1]: the target becomes
    (1 - eps) one_hot + eps / C (class-weighted as in PyTorch). The log-softmax is fused with the
    loss and max-subtracted, so large logits neither overflow nor lose precision.
    Not supported (unlike PyTorch): ignore_index, probability targets, extra spatial dimensions.
    """

    def __init__(self, weight=None, label_smoothing=0.0, reduction="mean"):
        super().__init__(reduction)
        self.weight = _optional_vector(weight, "weight", "CrossEntropyLoss")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
            raise TypeError("CrossEntropyLoss: label_smoothing must be a real number")
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, output, target):
        target = _class_indices(target, output, "CrossEntropyLoss")
        value, lse = _C.cross_entropy_forward(output, target, self.weight, self.label_smoothing,
                                              self.reduction, "CrossEntropyLoss")
        self._saved = (output, target, lse)
        return value

    def backward(self, grad=None):
        output, target, lse = self._require_forward()
        return _C.cross_entropy_backward(output, target, self.weight, self.label_smoothing,
                                         self.reduction, lse, grad, "CrossEntropyLoss")

    def get_config(self):
        w = None if self.weight is None else self.weight.tolist()
        return {"weight": w, "label_smoothing": self.label_smoothing, "reduction": self.reduction}

    def extra_repr(self):
        parts = [] if self.weight is None else [f"weight=<{self.weight.shape[0]} classes>"]
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)


def align_target(output_shape, target):
    """``target`` of shape (N,) for an output (N, 1) -- one output per sample -- seen as (N, 1), as
    Keras does (PyTorch would broadcast the pair to (N, N) with a warning: a wrong loss). Any
    other target is returned as it is (its shape must then equal the output's)."""
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    if (len(output_shape) >= 2 and output_shape[-1] == 1
            and t.shape == tuple(output_shape[:-1])):
        return t.reshape(tuple(output_shape))
    return target


class _Pointwise(Loss):
    """A loss summed over elements of output and a same-shaped target, computed in C++. A target
    (N,) for an output (N, 1) is taken as (N, 1) (see ``align_target``)."""

    _kind = _MSE

    def _extra(self, output):
        return None, None, 1.0  # weight (broadcast to output), pos_weight, delta

    def forward(self, output, target):
        output = np.asarray(output)
        target = align_target(output.shape, target)
        w, pw, delta = self._extra(output)
        value = _C.pointwise_loss_forward(self._kind, output, target, w, pw, delta,
                                          self.reduction, type(self).__name__)
        self._saved = (output, target, w, pw, delta)
        return value

    def backward(self, grad=None):
        output, target, w, pw, delta = self._require_forward()
        return _C.pointwise_loss_backward(self._kind, output, target, w, pw, delta,
                                          self.reduction, grad, type(self).__name__)


class MSELoss(_Pointwise):
    """Mean squared error (output - target)^2; target must have output's shape, except that a
    target (N,) is taken as (N, 1) for an output (N, 1) (as Keras; PyTorch would broadcast)."""

    _kind = _MSE


class HuberLoss(_Pointwise):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = output - target."""

    _kind = _HUBER

    def __init__(self, delta=1.0, reduction="mean"):
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise TypeError("HuberLoss: delta must be a real number")
        # The kernels take delta as float32: it must be finite there too.
        if not (0.0 < float(delta) <= float(np.finfo(np.float32).max)):
            raise ValueError(f"HuberLoss: delta must be > 0 and finite (as float32), got {delta}")
        self.delta = float(delta)

    def _extra(self, output):
        return None, None, self.delta

    def get_config(self):
        return {"delta": self.delta, "reduction": self.reduction}

    def extra_repr(self):
        r = "" if self.reduction == "mean" else f", reduction={self.reduction!r}"
        return f"delta={self.delta}{r}"


class BCEWithLogitsLoss(_Pointwise):
    """Sigmoid + binary cross-entropy on logits, computed stably:
    (1 - t) x + (1 + (pos_weight - 1) t) * log(1 + exp(-x)).

    weight: broadcast to the output's shape, multiplies each element's loss. pos_weight: (C,)
    with C the output's last dimension, weights the positive term (recall vs precision).
    """

    _kind = _BCE

    def __init__(self, weight=None, pos_weight=None, reduction="mean"):
        super().__init__(reduction)
        if weight is not None:
            weight = np.asarray(weight)
            if weight.dtype.kind not in "fiu":
                raise TypeError(f"BCEWithLogitsLoss: weight must be a real array, got dtype "
                                f"{weight.dtype}")
            weight = weight.astype(np.float32)
        self.weight = weight
        self.pos_weight = _optional_vector(pos_weight, "pos_weight", "BCEWithLogitsLoss")

    def _extra(self, output):
        w = None
        if self.weight is not None:
            try:
                w = np.broadcast_to(self.weight, output.shape)
            except ValueError:
                raise ValueError(f"BCEWithLogitsLoss: weight of shape {self.weight.shape} does "
                                 f"not broadcast to the output's shape {output.shape}") from None
        return w, self.pos_weight, 1.0

    def get_config(self):
        return {"weight": None if self.weight is None else self.weight.tolist(),
                "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist(),
                "reduction": self.reduction}

    def extra_repr(self):
        parts = []
        if self.weight is not None:
            parts.append(f"weight=<shape {self.weight.shape}>")
        if self.pos_weight is not None:
            parts.append(f"pos_weight=<{self.pos_weight.shape[0]} values>")
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)
