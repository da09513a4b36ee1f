"""RMSprop (plain or centered, with optional momentum), as torch.optim.RMSprop (fused C++ step)."""
from fastnn import _C
from fastnn.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """``RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, l1=0, max_norm=None)``.

    Update (torch.optim.RMSprop):
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        centered:  grad_avg = lerp(grad_avg, g, 1 - alpha); avg = sqrt(square_avg - grad_avg^2) + eps
        else:      avg = sqrt(square_avg) + eps
        momentum > 0: buf = momentum * buf + g / avg; p = p - lr * buf
        else:         p = p - lr * g / avg
    State: ``square_avg``; ``momentum_buffer`` and ``grad_avg`` when some group uses them at
    construction.
    """

    _kind = _C.OptimKind.rmsprop
    _slots = ("square_avg", "momentum_buffer", "grad_avg")
    _options = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False, "l1": 0.0, "max_norm": None}
    _bool_options = ("centered",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, l1=0.0, max_norm=None, **kwargs):
        self._reject_unknown(kwargs)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, l1=l1,
                                      max_norm=max_norm))

    def _hyper(self, g):
        mn = g["max_norm"]
        return _C.OptimHyper(lr=float(g["lr"]), weight_decay=float(g["weight_decay"]),
                             l1=float(g["l1"]), max_norm=0.0 if mn is None else float(mn),
                             momentum=float(g["momentum"]), alpha=float(g["alpha"]),
                             eps=float(g["eps"]), centered=bool(g["centered"]))

    def _needs(self, g):
        return (True, g["momentum"] > 0, bool(g["centered"]))
