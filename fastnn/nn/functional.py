"""Functional forms of the joining layers and common activations, for define-by-run modules
(a ``Module`` subclass that defines ``forward`` only): each call is a fresh layer call, recorded
like any other, so ``backward`` is derived. They work on symbolic tensors (graph building) too.
Exported at the top level: ``fastnn.add``, ``fastnn.mul``, ``fastnn.cat``, ``fastnn.split``,
``fastnn.flatten``, ``fastnn.relu``, ``fastnn.sigmoid``, ``fastnn.tanh``."""
from fastnn.nn.activation import ReLU, Sigmoid, Tanh
from fastnn.nn.linear import Flatten
from fastnn.nn.merge import Add, Concat, Multiply, Split

__all__ = ["add", "mul", "cat", "split", "flatten", "relu", "sigmoid", "tanh"]


def add(*xs):
    """The sum of two or more tensors (broadcasting)."""
    return Add()(*xs)


def mul(a, b):
    """The element-wise product (broadcasting)."""
    return Multiply()(a, b)


def cat(tensors, dim=1):
    """``torch.cat``: a list of tensors joined along ``dim``."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat: tensors: expected a list or tuple, got {type(tensors).__name__}")
    return Concat(dim)(*tensors)


def split(x, split_size_or_sections, dim=1):
    """``torch.split``: a tuple of pieces along ``dim``."""
    return Split(split_size_or_sections, dim)(x)


def flatten(x, start_dim=1, end_dim=-1):
    return Flatten(start_dim, end_dim)(x)


def relu(x):
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)
