"""Embedding (PyTorch's name, arguments and state_dict). Arithmetic: fastnn._C.embedding_forward /
embedding_backward (csrc/frame/embedding.cpp).

Input: integer indices of any shape; output (*input.shape, embedding_dim) = weight[input]. The
weight (num_embeddings, embedding_dim) starts N(0, 1) as in PyTorch, its padding_idx row zeros;
that row never receives a gradient. max_norm / norm_type rescale, in place before each lookup, the
rows looked up whose norm exceeds max_norm (PyTorch's renorm); scale_grad_by_freq divides each
row's gradient by its count in the batch; sparse gradients are not supported. The input is a set of
indices, not a differentiable value: ``backward`` accumulates the weight's gradient and returns
None (no input gradient), which the graph and Sequential backward pass on as "no gradient"; fit
keeps integer inputs as they are for a model that starts with an Embedding (``takes_indices``).
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn import _spatial as sp
from fastnn.nn import init
from fastnn.nn.module import Module, Parameter, init_deferred, new_array, register

__all__ = ["Embedding"]


@register
class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``."""

    _per_call = ("_saved",)

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        super().__init__()
        name = type(self).__name__
        self.num_embeddings = sp.positive_int(num_embeddings, "num_embeddings", name)
        self.embedding_dim = sp.positive_int(embedding_dim, "embedding_dim", name)
        if padding_idx is not None:
            if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx,
                                                                          numbers.Integral):
                raise TypeError(f"{name}: padding_idx: expected an int or None, got "
                                f"{padding_idx!r}")
            n = self.num_embeddings
            if not -n <= padding_idx < n:
                raise ValueError(f"{name}: padding_idx: expected an int in [{-n}, {n - 1}] "
                                 f"(within num_embeddings), got {padding_idx}")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        if max_norm is not None:
            if (isinstance(max_norm, (bool, np.bool_)) or not isinstance(max_norm, numbers.Real)
                    or not 0 <= max_norm < math.inf):
                raise ValueError(f"{name}: max_norm: expected a finite number >= 0 or None, got "
                                 f"{max_norm!r}")
            max_norm = float(max_norm)
        if (isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, numbers.Real)
                or not norm_type > 0):
            raise ValueError(f"{name}: norm_type: expected a number > 0 (or inf), got "
                             f"{norm_type!r}")
        if sparse:
            raise ValueError(f"{name}: sparse: only False is supported (fastnn's gradients are "
                             f"dense), got {sparse!r}")
        self.max_norm, self.norm_type = max_norm, float(norm_type)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        self.weight = Parameter(new_array((self.num_embeddings, self.embedding_dim),
                                          name="weight"))
        if not init_deferred():
            init.normal_(self.weight)
            if self.padding_idx is not None:
                self.weight.data[self.padding_idx] = 0.0
        self._saved = None

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        w = np.asarray(embeddings, np.float32)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings: expected a 2-D array, got "
                             f"shape {w.shape}")
        layer = cls(w.shape[0], w.shape[1], padding_idx=padding_idx)
        layer.weight.data[...] = w
        layer.weight.requires_grad = not freeze
        return layer

    def infer_shape(self, in_shape):
        return tuple(in_shape) + (self.embedding_dim,)

    def forward(self, x):
        idx = np.asarray(x)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: input: expected an integer array of indices, got dtype "
                            f"{idx.dtype}")
        try:
            if self.max_norm is not None:  # PyTorch's renorm of the rows looked up, in place
                _C.embedding_renorm(idx, self.weight.data, self.max_norm, self.norm_type)
            y = _C.embedding_forward(idx, self.weight.data)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None
        self._saved = idx
        return y

    def backward(self, grad_out):
        if self._saved is None:
            raise sp.not_run(repr(self))
        idx = self._saved
        g = sp.check_grad(grad_out, idx.shape + (self.embedding_dim,), repr(self))
        dw = sp.grad_of(self.weight)
        if dw is not None:
            _C.embedding_backward(g, idx, dw, -1 if self.padding_idx is None else
                                  self.padding_idx, self.scale_grad_by_freq)
        return None

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            s += f", norm_type={self.norm_type}"
        return s + (", scale_grad_by_freq=True" if self.scale_grad_by_freq else "")

    def get_config(self):
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "max_norm": self.max_norm,
                "norm_type": self.norm_type, "scale_grad_by_freq": self.scale_grad_by_freq}


def takes_indices(model):
    """Whether ``model`` takes integer indices as its (first) input: an Embedding, a Sequential
    whose first layer takes them, or a graph Model one of whose input's consumers is one."""
    from fastnn.nn.graph import Model
    from fastnn.nn.module import Sequential
    if isinstance(model, Embedding):
        return True
    if isinstance(model, Sequential):
        return len(model) > 0 and takes_indices(model[0])
    if isinstance(model, Model):
        return any(0 in in_slots and takes_indices(layer)
                   for layer, in_slots, _ in model._graph.nodes)
    return False
