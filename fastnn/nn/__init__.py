"""Layers, losses and initialisers with a PyTorch-shaped API (fastnn.nn)."""
from fastnn.nn.module import (Module, Parameter, Residual, Sequential, module_from_config,
                              register)

__all__ = ["Module", "Parameter", "Sequential", "Residual", "register", "module_from_config"]

# [layers: linear, activations, dropout, losses, init]

# [layers: conv, pool, batchnorm]

# [prune / quant layers]
