"""Dropout: inverted dropout with a counter-based mask."""
import numbers

import numpy as np

from fastnn import _C, _random
from fastnn.nn.module import Module, register

__all__ = ["Dropout"]


@register
class Dropout(Module):
    """In training, zeroes each element with probability p and scales the others by 1/(1-p);
    in eval (and for p = 0) it is the identity.

    The mask is drawn in C++ from a hash of (seed, flat element index) -- the per-call seed comes
    from fastnn's generator, so ``fastnn.manual_seed`` reproduces it bit for bit whatever the
    thread count -- and backward regenerates the same mask instead of storing it. Elements are
    multiplied by the mask value (0 or 1/(1-p)), so NaN/Inf inputs propagate as IEEE says even
    where dropped, as in PyTorch.
    """

    _per_call = ("_state",)

    def __init__(self, p=0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"Dropout: p must be a real number, got {type(p).__name__}")
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout: p must satisfy 0 <= p < 1, got {p}")
        self.p = float(p)
        self._state = None  # (shape, seed or None for the identity)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            x = np.asarray(x, dtype=np.float32)
            self._state = (x.shape, None)
            return x
        seed = _random.next_seed()
        y = _C.dropout_forward(x, self.p, seed, repr(self))
        self._state = (y.shape, seed)
        return y

    def backward(self, grad_out):
        if self._state is None:
            raise ValueError(f"{self!r}: backward() called before forward()")
        shape, seed = self._state
        g = np.asarray(grad_out)
        if g.shape != shape:
            raise ValueError(f"{self!r}: grad_out: expected shape {shape}, got {g.shape}")
        if seed is None:
            return np.asarray(g, dtype=np.float32)
        return _C.dropout_backward(g, self.p, seed, repr(self))

    def get_config(self):
        return {"p": self.p}

    def extra_repr(self):
        return f"p={self.p}"
