"""BatchNorm1d and BatchNorm2d. Arithmetic: fastnn._C (csrc/frame/batchnorm.cpp).

Training (or no running statistics): normalise with the batch mean and biased variance, and
update running_mean / running_var in place with the UNBIASED variance,
running = (1 - momentum) * running + momentum * batch (momentum=None: cumulative average over the
batches seen, as PyTorch). Eval: normalise with the running statistics.
Parameters weight (gamma, ones) and bias (beta, zeros); buffers running_mean (zeros) and
running_var (ones). PyTorch's num_batches_tracked is not kept in the state_dict (load accepts
and ignores it); the counter lives on the module for momentum=None.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn.module import Module, Parameter, new_array, register


class _BatchNorm(Module):
    _per_call = ("_saved",)
    _ndims = ()
    _layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = sp.positive_int(num_features, "num_features", name)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
            raise ValueError(f"{name}: eps: expected a finite number > 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or
                                     not isinstance(momentum, numbers.Real) or
                                     not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum: expected a number in [0, 1] or None, got "
                             f"{momentum!r}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(new_array(c, 1.0, name="weight"))
            self.bias = Parameter(new_array(c, 0.0, name="bias"))
        else:
            self.weight = None
            self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", new_array(c, 0.0, name="running_mean"))
            self.register_buffer("running_var", new_array(c, 1.0, name="running_var"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        self.num_batches_tracked = 0
        self._saved = None

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.fill(0.0)
            self.running_var.fill(1.0)
            self.num_batches_tracked = 0

    def forward(self, x):
        return self._forward(x)

    def forward_fused(self, x, next_layer):
        """Training: absorb a following element-wise activation (ReLU after a conv's batch norm)
        into the normalising pass -- one pass over the activations instead of two; the same bits
        as the pair unfused (the activation's kernel on the same values). None (not fused) for
        other layers, eval statistics, and the instance norms (their own forward)."""
        from fastnn.nn.activation import fuse_activation
        if type(self).forward is not _BatchNorm.forward or not (self.training or
                                                                 self.running_mean is None):
            return None
        return fuse_activation(next_layer, lambda code, param: self._forward(x, code, param))

    def _forward(self, x, act=0, act_param=0.0):
        x = sp.as_input(x, repr(self), self._ndims, self.num_features, self._layout)
        use_batch = self.training or self.running_mean is None
        update = self.training and self.running_mean is not None
        momentum = 0.0
        if update:
            momentum = (self.momentum if self.momentum is not None
                        else 1.0 / (self.num_batches_tracked + 1))
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
        rm = self.running_mean if update or not use_batch else None
        rv = self.running_var if update or not use_batch else None
        y, mean, invstd = _C.batchnorm_forward(x, w, b, rm, rv, use_batch, momentum, self.eps,
                                               int(act), float(act_param))
        if update:
            self.num_batches_tracked += 1
        self._saved = (x, mean, invstd, use_batch, y.shape)
        return y

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        x, mean, invstd, use_batch, shape = self._saved
        g = sp.check_grad(grad_out, shape, repr(self))
        w = None if self.weight is None else self.weight.data
        return _C.batchnorm_backward(g, x, w, mean, invstd, use_batch, True,
                                     sp.grad_of(self.weight), sp.grad_of(self.bias))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")

    def get_config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}


@register
class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per channel C."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


@register
class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel C over N, H and W."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"


@register
class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W): statistics per channel C over N, D, H and W (the same
    C++ kernel as BatchNorm1d/2d, which reads any (N, C, ...) input as (N, C, inner))."""

    _ndims = (5,)
    _layout = "(N, C, D, H, W)"


class _InstanceNorm(_BatchNorm):
    """Instance norm (PyTorch's InstanceNorm1d/2d/3d): each (sample, channel) plane normalised
    with its own mean and biased variance. The batch-norm kernel does it all, on the input viewed
    as (1, N * C, inner) with the per-channel weight, bias and running statistics repeated for
    each sample. track_running_stats: running_mean/running_var per channel, updated with the
    mean over the samples of the per-instance statistics (as PyTorch), and used in eval mode;
    momentum=None leaves them unchanged (PyTorch passes 0 for it)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x):
        x = sp.as_input(x, repr(self), self._ndims, self.num_features, self._layout)
        n, c = x.shape[0], x.shape[1]
        flat = x.reshape(1, n * c, -1)
        use_batch = self.training or self.running_mean is None
        update = self.training and self.running_mean is not None
        momentum = 0.0
        rm = rv = None
        if update or not use_batch:
            rm, rv = np.tile(self.running_mean, n), np.tile(self.running_var, n)
        if update:  # momentum=None: 0, the statistics stay (what torch's InstanceNorm does)
            momentum = self.momentum if self.momentum is not None else 0.0
        w = None if self.weight is None else np.tile(self.weight.data, n)
        b = None if self.bias is None else np.tile(self.bias.data, n)
        y, mean, invstd = _C.batchnorm_forward(flat, w, b, rm, rv, use_batch, momentum, self.eps)
        if update:
            self.running_mean[...] = rm.reshape(n, c).mean(axis=0)
            self.running_var[...] = rv.reshape(n, c).mean(axis=0)
        self._saved = (flat, w, mean, invstd, use_batch, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        flat, w, mean, invstd, use_batch, shape = self._saved
        g = sp.check_grad(grad_out, shape, repr(self))
        n, c = shape[0], shape[1]
        # Per-instance parameter gradients from the kernel, summed over the samples here.
        dw, db = sp.grad_of(self.weight), sp.grad_of(self.bias)
        dw_i = None if dw is None else np.zeros(n * c, np.float32)
        db_i = None if db is None else np.zeros(n * c, np.float32)
        dx = _C.batchnorm_backward(np.ascontiguousarray(g.reshape(flat.shape)), flat, w, mean,
                                   invstd, use_batch, True, dw_i, db_i)
        if dw is not None:
            dw += dw_i.reshape(n, c).sum(axis=0)
        if db is not None:
            db += db_i.reshape(n, c).sum(axis=0)
        return dx.reshape(shape)


def _instance_norm(name, ndims, layout, over):
    cls = type(name, (_InstanceNorm,), {
        "_ndims": ndims, "_layout": layout, "__module__": __name__,
        "__doc__": f"Instance norm over {layout}: statistics per sample and channel over {over}."})
    return register(cls)


InstanceNorm1d = _instance_norm("InstanceNorm1d", (3,), "(N, C, L)", "L")
InstanceNorm2d = _instance_norm("InstanceNorm2d", (4,), "(N, C, H, W)", "H and W")
InstanceNorm3d = _instance_norm("InstanceNorm3d", (5,), "(N, C, D, H, W)", "D, H and W")
