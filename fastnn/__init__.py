"""fastnn: a CPU neural-network engine. C++ kernels (OpenMP) under a PyTorch-shaped Python API."""
from fastnn import _threads

try:
    with _threads.before_runtime_loads():
        from fastnn import _C
except ModuleNotFoundError as _e:  # a source checkout without its build, shadowing an installed one
    if _e.name != "fastnn._C":
        raise
    raise ImportError(
        "fastnn's compiled extension (fastnn._C) is missing. In a source checkout, build it in "
        "place with `pip install -e .` (or run Python from another directory to use an installed "
        "fastnn).") from _e
except ImportError as _e:
    if str(_e).startswith("FASTNN_ISA"):  # the extension loaded and refused the requested ISA
        raise ImportError(f"{_e}. Unset FASTNN_ISA to use the best ISA this machine "
                          "supports.") from None
    raise ImportError(  # it is there but cannot be loaded: show why
        f"fastnn's compiled extension could not be loaded: {_e}. If it was built for another "
        "Python or from older sources, rebuild it with `pip install -e .`.") from _e
from fastnn._config import show_config, get_num_threads, set_num_threads, get_isa, set_isa
from fastnn import ops
from fastnn._random import manual_seed
# [data-io]
from fastnn.io import save, load, load_checkpoint
from fastnn import data, datasets
# [train]
from fastnn import nn, optim, train, prune, quant
from fastnn.train import fit, evaluate, predict, History, TrainingDiverged
from fastnn.nn._calls import no_grad, enable_grad, is_grad_enabled, inference_mode
from fastnn.nn.functional import add, mul, cat, split, flatten, relu, sigmoid, tanh
from fastnn.plot import plot_history

__version__ = _C.__version__

__all__ = ["show_config", "get_num_threads", "set_num_threads", "get_isa", "set_isa", "ops",
           "manual_seed", "save", "load", "load_checkpoint", "data", "datasets", "nn", "optim",
           "train", "prune", "quant", "fit", "evaluate", "predict", "History", "TrainingDiverged",
           "no_grad", "enable_grad", "is_grad_enabled", "inference_mode", "add", "mul", "cat",
           "split", "flatten", "relu", "sigmoid", "tanh", "plot_history", "__version__"]
