"""Adagrad, as torch.optim.Adagrad (fused C++ step)."""
import numpy as np

from fastnn import _C
from fastnn.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """``Adagrad(params, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, l1=0, max_norm=None)``.

    Update (torch.optim.Adagrad), t = the parameter's step count:
        sum = sum + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
    State: ``sum`` (starts at initial_accumulator_value).
    """

    _kind = _C.OptimKind.adagrad
    _slots = ("sum", None, None)
    _options = {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator_value": 0.0, "eps": 1e-10, "l1": 0.0, "max_norm": None}

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, l1=0.0, max_norm=None, **kwargs):
        self._reject_unknown(kwargs)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, l1=l1, max_norm=max_norm))

    def _initial_buffer(self, slot, groups):
        buf = np.zeros(self._total, dtype=np.float32)
        start = 0
        for g in groups:
            n = sum(p.data.size for p in g["params"])
            buf[start:start + n] = g["initial_accumulator_value"]
            start += n
        return buf

    def _hyper(self, g):
        mn = g["max_norm"]
        return _C.OptimHyper(lr=float(g["lr"]), weight_decay=float(g["weight_decay"]),
                             l1=float(g["l1"]), max_norm=0.0 if mn is None else float(mn),
                             eps=float(g["eps"]), lr_decay=float(g["lr_decay"]))

    def _needs(self, g):
        return (True, False, False)
