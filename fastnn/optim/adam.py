"""Adam and AdamW, as torch.optim.Adam / AdamW (fused C++ step)."""
from fastnn import _C
from fastnn.optim.optimizer import Optimizer


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, l1=0,
    max_norm=None)``.

    Regularisers (every fused optimizer): ``weight_decay`` adds weight_decay * p to the gradient
    (torch's coupled L2; AdamW decays the weights instead), ``l1`` adds l1 * sign(p), and
    ``max_norm`` rescales, after the update, each output unit's incoming weight vector (row of a
    2-D weight, output channel of a conv weight; parameters with ndim >= 2 only) to norm
    <= max_norm (torch.renorm: by max_norm / (norm + 1e-7)). A pruning mask (``param.mask``)
    multiplies the updated parameter, so pruned weights stay exactly zero.

    Update (torch.optim.Adam), t = the parameter's step count:
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        amsgrad: v_max = max(v_max, v), used in place of v below
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    State: ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq`` with amsgrad).
    """

    _kind = _C.OptimKind.adam
    _slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _options = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "amsgrad": False, "l1": 0.0, "max_norm": None}
    _bool_options = ("amsgrad",)
    _decoupled = 0.0

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, l1=0.0, max_norm=None, **kwargs):
        self._reject_unknown(kwargs)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, l1=l1, max_norm=max_norm))

    def _hyper(self, g):
        b1, b2 = g["betas"]
        mn = g["max_norm"]
        return _C.OptimHyper(lr=float(g["lr"]), weight_decay=float(g["weight_decay"]),
                             l1=float(g["l1"]), max_norm=0.0 if mn is None else float(mn),
                             beta1=float(b1), beta2=float(b2), eps=float(g["eps"]),
                             amsgrad=bool(g["amsgrad"]), decoupled=bool(self._decoupled))

    def _needs(self, g):
        return (True, True, bool(g["amsgrad"]))


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False,
    l1=0, max_norm=None)``: Adam with decoupled weight decay (torch.optim.AdamW): before the Adam
    update, p = p * (1 - lr * weight_decay); the gradient is not changed by weight_decay."""

    _options = dict(Adam._options, weight_decay=1e-2)
    _decoupled = 1.0

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, l1=0.0, max_norm=None, **kwargs):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, l1=l1, max_norm=max_norm, **kwargs)
