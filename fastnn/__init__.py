"""fastnn: a CPU neural-network engine. C++ kernels (OpenMP) under a PyTorch-shaped Python API."""
try:
    from fastnn import _C
except ImportError as _e:  # a source checkout without its build, shadowing an installed fastnn
    raise ImportError(
        f"fastnn's compiled extension is missing ({_e}). In a source checkout, build it in place "
        "with `pip install -e .` (or run Python from another directory to use an installed "
        "fastnn).") from _e
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
