"""SparseLinear and SparseConv2d: inference layers holding a pruned weight as CSR (made by
``fastnn.prune.to_sparse``). Forward only.

State (saved by ``fastnn.save``, PyTorch-like names): ``weight_values`` (float32, nnz),
``weight_col_idx`` (int32, nnz), ``weight_row_ptr`` (int64, rows + 1) -- the CSR arrays of the
weight seen as a (out, in) / (out_channels, in_channels*kh*kw) matrix -- and ``bias`` (float32 or
None), all buffers: these layers have no trainable Parameter. ``nnz`` is part of the config, so a
layer rebuilt from its config takes the saved arrays as any other state_dict. The C++ matrix is
built (and validated) from the arrays on first use after they change.

Inside a Sequential a following ReLU is fused into the sparse kernel's epilogue (the
``forward_fused`` protocol of fastnn.nn): same values as applying it separately.
"""
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.activation import ReLU
from fastnn.nn._spatial import MAX_PARAM
from fastnn.nn.module import Module, new_array, register
from fastnn.prune._common import masked_weight
from fastnn.prune._sparse import SparseLinearWeights

__all__ = ["SparseLinear", "SparseConv2d"]


def _int(value, name, layer, low, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{layer}: {name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{layer}: {name} must be <= {high}, got {value}")
    return int(value)


def _pair(value, name, layer, low):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
        return tuple(_int(v, name, layer, low, MAX_PARAM) for v in value)
    v = _int(value, name, layer, low, MAX_PARAM)
    return (v, v)


class _SparseLayer(Module):
    """CSR weight buffers, lazy C++ matrix, no backward."""

    inference_only = True

    def _init_state(self, rows, cols, nnz, bias):
        name = type(self).__name__
        nnz = _int(nnz, "nnz", name, 0)
        if nnz > rows * cols:
            raise ValueError(f"{name}: nnz must be <= {rows * cols} (the weight's size), got {nnz}")
        self.nnz = nnz
        self.register_buffer("weight_values", new_array(nnz, 0.0, name="weight_values"))
        self.register_buffer("weight_col_idx", new_array(nnz, 0, np.int32, "weight_col_idx"),
                             dtype=np.int32)
        self.register_buffer("weight_row_ptr", new_array(rows + 1, 0, np.int64, "weight_row_ptr"),
                             dtype=np.int64)
        self.register_buffer("bias", new_array(rows, 0.0, name="bias") if bias else None)
        self._matrix = None

    def _set_weight(self, weight2d, bias):
        """Take a dense (rows x cols) weight (zeros dropped) and a bias (copied)."""
        m = SparseLinearWeights(weight2d)
        row_ptr, col_idx, values = m.csr()
        self.nnz = int(values.size)
        self.register_buffer("weight_values", values)
        self.register_buffer("weight_col_idx", col_idx, dtype=np.int32)
        self.register_buffer("weight_row_ptr", row_ptr, dtype=np.int64)
        if bias is not None:
            self.register_buffer("bias", bias)
        self._matrix = m

    def set_buffer(self, name, value):
        super().set_buffer(name, value)
        self._matrix = None  # rebuilt (and validated) from the arrays on the next forward
        if name == "weight_values":
            self.nnz = int(self.weight_values.size)

    def matrix(self):
        """The weight as a SparseLinearWeights (built from the CSR buffers when they changed)."""
        if self._matrix is None:
            try:
                self._matrix = SparseLinearWeights.from_csr(
                    self._matrix_shape, self.weight_row_ptr, self.weight_col_idx,
                    self.weight_values)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{self!r}: the CSR weight arrays are not a valid weight (load "
                                 f"them with load_state_dict or build the layer with "
                                 f"fastnn.prune.to_sparse): {e}") from None
        return self._matrix

    @property
    def sparsity(self):
        size = int(np.prod(self.weight_shape))
        return 1.0 - self.weight_values.size / size if size else 0.0

    def dense_weight(self):
        """The weight as a dense float32 array of ``weight_shape``."""
        return self.matrix().to_dense().reshape(self.weight_shape)

    def forward_fused(self, x, next_layer):
        """Absorb a following ReLU into the sparse kernel (same values as unfused)."""
        if type(next_layer) is not ReLU:
            return None
        y = self._run(x, relu=True)
        next_layer.accept_fused_output(y)
        return y

    def forward(self, x):
        return self._run(x, relu=False)

    def backward(self, grad_out):
        raise RuntimeError(f"{type(self).__name__} is an inference-only layer (made by "
                           "fastnn.prune.to_sparse) and has no backward; fine-tune the dense "
                           "pruned model, then convert it again")

    def __getstate__(self):  # copy/deepcopy/pickle: the C++ matrix is rebuilt from the buffers
        state = super().__getstate__()
        state["_matrix"] = None
        return state


@register
class SparseLinear(_SparseLayer):
    """``y = x @ W.T + bias`` with W (out_features, in_features) stored as CSR, for x of shape
    (batch, in_features) or one sample (in_features,). Build one with
    ``SparseLinear.from_linear`` (or ``to_sparse``)."""

    def __init__(self, in_features, out_features, nnz=0, bias=True):
        super().__init__()
        self.in_features = _int(in_features, "in_features", "SparseLinear", 1)
        self.out_features = _int(out_features, "out_features", "SparseLinear", 1)
        self._init_state(self.out_features, self.in_features, nnz, bias)

    @classmethod
    def from_linear(cls, linear):
        """The sparse twin of a (pruned) Linear: its masked weight without the zeros, its bias."""
        w = masked_weight(linear.weight)
        layer = cls(linear.in_features, linear.out_features, 0, linear.bias is not None)
        layer._set_weight(w, None if linear.bias is None else linear.bias.data.copy())
        layer.train(linear.training)
        return layer

    @property
    def weight_shape(self):
        return (self.out_features, self.in_features)

    @property
    def _matrix_shape(self):
        return self.weight_shape

    def _run(self, x, relu):
        x = np.asarray(x)
        if x.ndim == 1 and x.shape[0] == self.in_features:  # one sample, as Linear takes it
            return self.matrix().linear(x[None], self.bias, relu=relu)[0]
        return self.matrix().linear(x, self.bias, relu=relu)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "nnz": self.nnz, "bias": self.bias is not None}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"nnz={self.nnz}, sparsity={self.sparsity:.3f}, bias={self.bias is not None}")


@register
class SparseConv2d(_SparseLayer):
    """A Conv2d (groups 1, NCHW) whose weight (out_channels, in_channels, kh, kw) is stored as a
    CSR matrix (out_channels x in_channels*kh*kw); each image is unrolled (im2col) and multiplied
    by it in C++ (W @ X: the output comes out NCHW). Build one with ``SparseConv2d.from_conv``
    (or ``to_sparse``). Accepts (N, C, H, W) or one (C, H, W) image."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 nnz=0, bias=True):
        super().__init__()
        name = "SparseConv2d"
        self.in_channels = _int(in_channels, "in_channels", name, 1)
        self.out_channels = _int(out_channels, "out_channels", name, 1)
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1)
        self.stride = _pair(stride, "stride", name, 1)
        self.padding = _pair(padding, "padding", name, 0)
        self.dilation = _pair(dilation, "dilation", name, 1)
        kh, kw = self.kernel_size
        self._init_state(self.out_channels, self.in_channels * kh * kw, nnz, bias)

    @classmethod
    def from_conv(cls, conv):
        """The sparse twin of a (pruned) Conv2d with groups == 1."""
        if conv.groups != 1:
            raise ValueError(f"SparseConv2d.from_conv: {conv!r}: only groups == 1 is supported")
        w = masked_weight(conv.weight).reshape(conv.out_channels, -1)
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.dilation, 0, conv.bias is not None)
        layer._set_weight(w, None if conv.bias is None else conv.bias.data.copy())
        layer.train(conv.training)
        return layer

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels) + self.kernel_size

    @property
    def _matrix_shape(self):
        kh, kw = self.kernel_size
        return (self.out_channels, self.in_channels * kh * kw)

    def _run(self, x, relu):
        x = np.asarray(x)
        if x.ndim == 3:
            return self._run(x[None], relu)[0]
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: x: expected shape (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got {x.shape}")
        return _C.sparse_conv2d(self.matrix()._m, x, self.bias, self.kernel_size, self.stride,
                                self.padding, self.dilation, relu)

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "dilation": list(self.dilation),
                "nnz": self.nnz, "bias": self.bias is not None}

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"nnz={self.nnz}, sparsity={self.sparsity:.3f}, bias={self.bias is not None}")
