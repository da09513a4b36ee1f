"""Fused optimizers, gradient clipping and learning-rate schedules (fastnn.optim).

Every optimizer keeps its state in flat float32 buffers and updates all parameters in one
threaded C++ pass per step, with torch.optim's formulas (see each class). Extra options on every
optimizer: ``l1`` (L1 penalty), ``max_norm`` (max-norm constraint per output unit); pruning masks
(``Parameter.mask``) are honoured; frozen parameters are skipped.
"""
from fastnn.optim import lr_scheduler
from fastnn.optim.adagrad import Adagrad
from fastnn.optim.adam import Adam, AdamW
from fastnn.optim.clip import clip_grad_norm_, clip_grad_value_, grad_norm
from fastnn.optim.lr_scheduler import scale_lr
from fastnn.optim.optimizer import Optimizer
from fastnn.optim.rmsprop import RMSprop
from fastnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm_",
           "clip_grad_value_", "grad_norm", "lr_scheduler", "scale_lr"]
