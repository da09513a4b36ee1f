"""Training: fit / evaluate / predict, History, callbacks, diagnostics and training practice
(fastnn.train)."""
from fastnn.train.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint
from fastnn.train.diagnostics import Diagnostics, DiagnosticsWarning, find_nonfinite
from fastnn.train.logging import CSVLogger, TensorBoard
from fastnn.train.loop import History, TrainingDiverged, evaluate, fit, predict
from fastnn.train.lr_finder import LRFinderResult, lr_find
from fastnn.train.pretrain import PretrainReport, pretrain_greedy

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDiverged", "Callback",
           "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "Diagnostics",
           "DiagnosticsWarning", "find_nonfinite", "CSVLogger", "TensorBoard", "lr_find",
           "LRFinderResult", "pretrain_greedy", "PretrainReport"]
