"""Stochastic gradient descent with momentum / Nesterov, as torch.optim.SGD (fused C++ step)."""
from fastnn import _C
from fastnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, nesterov=False, weight_decay=0, l1=0,
    max_norm=None)``.

    Update (torch.optim.SGD; g includes the regularisers, see ``Adam``):
        buf = g on a parameter's first step, else momentum * buf + (1 - dampening) * g
        d = g + momentum * buf if nesterov else buf      (d = g when momentum == 0)
        p = p - lr * d
    then the pruning mask (if ``param.mask`` is set) and the max-norm constraint.
    State: ``momentum_buffer`` (only when some group has momentum != 0 at construction).
    """

    _kind = _C.OptimKind.sgd
    _slots = ("momentum_buffer", None, None)
    _options = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
                "weight_decay": 0.0, "l1": 0.0, "max_norm": None}
    _bool_options = ("nesterov",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, l1=0.0, max_norm=None, **kwargs):
        self._reject_unknown(kwargs)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay, l1=l1,
                                      max_norm=max_norm))

    def _hyper(self, g):
        mn = g["max_norm"]
        return _C.OptimHyper(lr=float(g["lr"]), weight_decay=float(g["weight_decay"]),
                             l1=float(g["l1"]), max_norm=0.0 if mn is None else float(mn),
                             momentum=float(g["momentum"]), dampening=float(g["dampening"]),
                             nesterov=bool(g["nesterov"]))

    def _needs(self, g):
        return (g["momentum"] != 0, False, False)
