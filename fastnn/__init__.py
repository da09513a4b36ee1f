"""fastnn: a CPU neural-network engine. C++ kernels (OpenMP) under a PyTorch-shaped Python API."""
from fastnn import _C
from fastnn._config import show_config, get_num_threads, set_num_threads, get_isa, set_isa
from fastnn import ops
from fastnn._random import manual_seed
# [data-io]
from fastnn.io import save, load, load_checkpoint
from fastnn import data, datasets
# [train]
from fastnn import nn, optim, train, prune, quant
from fastnn.train import fit, evaluate, predict, History, TrainingDiverged

__version__ = _C.__version__

__all__ = ["show_config", "get_num_threads", "set_num_threads", "get_isa", "set_isa", "ops",
           "manual_seed", "save", "load", "load_checkpoint", "data", "datasets", "nn", "optim",
           "train", "prune", "quant", "fit", "evaluate", "predict", "History", "TrainingDiverged", "__version__"]
