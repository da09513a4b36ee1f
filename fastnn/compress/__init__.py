"""Model compression beyond pruning and int8 (Han et al., "Deep Compression", 2015): k-means
weight sharing (``cluster_weights``, kept through fine-tuning by the optimizers), low-rank
factorisation of Linear layers (``low_rank``) and the Deep Compression file (``save_compressed``,
read back by ``fastnn.load``); binary and ternary networks (``binarize``, ``ternarize``). Every
function works on Sequential and graph models."""
from fastnn.compress._bits import binarize, ternarize
from fastnn.compress._cluster import cluster_weights, strip_clustering
from fastnn.compress._file import save_compressed
from fastnn.compress._lowrank import low_rank
from fastnn.compress._report import report

__all__ = ["cluster_weights", "strip_clustering", "low_rank", "save_compressed", "report",
           "binarize", "ternarize"]
