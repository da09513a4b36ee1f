"""Training: fit / evaluate / predict, History and callbacks (fastnn.train)."""
from fastnn.train.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint
from fastnn.train.loop import History, TrainingDiverged, evaluate, fit, predict

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDiverged", "Callback",
           "EarlyStopping", "ModelCheckpoint", "LambdaCallback"]
