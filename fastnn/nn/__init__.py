"""Layers, losses and initialisers with a PyTorch-shaped API (fastnn.nn)."""
from fastnn.nn.module import (Module, Parameter, Residual, Sequential, module_from_config,
                              new_array, register)

__all__ = ["Module", "Parameter", "Sequential", "Residual", "register", "module_from_config",
           "new_array"]

# [layers: linear, activations, dropout, losses, init]
from fastnn.nn import init
from fastnn.nn.activation import ELU, GELU, SELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from fastnn.nn.dropout import Dropout
from fastnn.nn.linear import Flatten, Linear
from fastnn.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MSELoss

__all__ += ["init", "Linear", "Flatten", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid",
            "Tanh", "Softmax", "Dropout", "Loss", "CrossEntropyLoss", "MSELoss",
            "BCEWithLogitsLoss", "HuberLoss"]

# [layers: conv, pool, batchnorm]
from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d  # noqa: E402
from fastnn.nn.conv import Conv2d, ConvTranspose2d  # noqa: E402
from fastnn.nn.pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d  # noqa: E402

__all__ += ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
            "BatchNorm1d", "BatchNorm2d"]

# [activations for imported architectures (issue 14)]
from fastnn.nn.activation import (Hardsigmoid, Hardswish, Hardtanh, LogSoftmax,  # noqa: E402
                                  PReLU, ReLU6, Softplus, Softsign)

__all__ += ["Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Softplus", "Softsign", "PReLU",
            "LogSoftmax"]

# [prune / quant layers]
from fastnn.prune._layers import SparseConv2d, SparseLinear  # noqa: E402  (inference-only)

__all__ += ["SparseLinear", "SparseConv2d"]

# [graph models]
from fastnn.nn.merge import Add, Concat, Identity, Multiply, Split  # noqa: E402
from fastnn.nn.graph import Input, Model, SymbolicTensor  # noqa: E402
from fastnn.nn import functional  # noqa: E402

__all__ += ["Add", "Multiply", "Concat", "Split", "Identity", "Input", "Model", "SymbolicTensor",
            "functional"]

# [shape and constant-operand layers (ONNX import)]
from fastnn.nn.reshape import AddConstant, MulConstant, Reshape, Transpose  # noqa: E402

__all__ += ["Reshape", "Transpose", "AddConstant", "MulConstant"]

# [binary layers]
from fastnn.nn.binary import BinaryLinear, BinaryConv2d, TernaryLinear, TernaryConv2d  # noqa: E402,E501

__all__ += ["BinaryLinear", "BinaryConv2d", "TernaryLinear", "TernaryConv2d"]

# [padding layers]
from fastnn.nn.padding import (ZeroPad2d, ConstantPad2d, ReflectionPad2d,  # noqa: E402
                               ReplicationPad2d, CircularPad2d)

__all__ += ["ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"]

# [normalisation layers for imported architectures (issue 14)]
from fastnn.nn.normalization import LocalResponseNorm  # noqa: E402

__all__ += ["LocalResponseNorm"]

# [1-D layers and global max pooling (issue 14)]
from fastnn.nn.conv1d import Conv1d  # noqa: E402
from fastnn.nn.pooling1d import (AdaptiveAvgPool1d, AdaptiveAvgPool2d,  # noqa: E402
                                 AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                                 GlobalMaxPool2d, MaxPool1d)
from fastnn.nn.padding1d import (ConstantPad1d, ReflectionPad1d, ReplicationPad1d,  # noqa: E402
                                 ZeroPad1d, CircularPad1d)

__all__ += ["Conv1d", "MaxPool1d", "AvgPool1d", "GlobalMaxPool2d", "AdaptiveAvgPool2d",
            "AdaptiveMaxPool2d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "ZeroPad1d",
            "ConstantPad1d", "ReflectionPad1d", "ReplicationPad1d", "CircularPad1d"]

# [LayerNorm, Embedding, reductions (issue 14)]
from fastnn.nn.normalization import LayerNorm  # noqa: E402
from fastnn.nn.embedding import Embedding  # noqa: E402
from fastnn.nn.reduce import Mean, Sum, Amax, Amin, Prod, SumSquare, Norm, LogSumExp  # noqa: E402

__all__ += ["LayerNorm", "Embedding", "Mean", "Sum", "Amax", "Amin", "Prod", "SumSquare", "Norm",
            "LogSumExp"]

# [resize and depth <-> space layers (issue 14)]
from fastnn.nn.upsampling import (DepthToSpace, PixelShuffle, PixelUnshuffle,  # noqa: E402
                                  SpaceToDepth, Upsample, UpsamplingBilinear2d,
                                  UpsamplingNearest2d)

__all__ += ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
            "PixelUnshuffle", "DepthToSpace", "SpaceToDepth"]

# [activations listed in activation.__all__ and not imported above (issue 13: a new activation is
# a class there and a line in params.h FASTNN_UNARY_LIST, nothing here)]
from fastnn.nn import activation as _activation  # noqa: E402

for _name in _activation.__all__:
    if _name not in __all__:
        globals()[_name] = getattr(_activation, _name)
        __all__.append(_name)
del _name

# [3-D batch norm, instance norm, element-wise math, Tile (issue 14: conformance)]
from fastnn.nn.batchnorm import (BatchNorm3d, InstanceNorm1d, InstanceNorm2d,  # noqa: E402
                                 InstanceNorm3d)
from fastnn.nn.pointwise import Exp, Log, Maximum, Minimum, Pow, Sqrt, Tile  # noqa: E402

__all__ += ["BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "Exp", "Log",
            "Sqrt", "Pow", "Maximum", "Minimum", "Tile"]

# The compiled inference plan (nn/_plan.py): on/off and its per-op profile.
from fastnn.nn._plan import profile as inference_profile  # noqa: E402
from fastnn.nn._plan import set_inference_plan  # noqa: E402

__all__ += ["set_inference_plan", "inference_profile"]
