"""fastnn -> ONNX for the normalisations over channels (BatchNorm1d/2d/3d as BatchNormalization
with the running statistics; InstanceNorm1d/2d/3d as InstanceNormalization, or with
track_running_stats as the BatchNormalization its eval mode computes) and the element-wise math of
nn/pointwise.py (Exp, Log, Sqrt; Pow, Maximum, Minimum as Pow, Max, Min; Tile): the writers that
mirror ``_import_math``. ``write`` returns None for any other layer."""
import numpy as np

from fastnn import nn

_UNARY = {nn.Exp: "Exp", nn.Log: "Log", nn.Sqrt: "Sqrt"}
_BINARY = {nn.Pow: "Pow", nn.Maximum: "Max", nn.Minimum: "Min"}
_BATCH = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_INSTANCE = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def _affine(w, layer, where):
    c = layer.num_features
    scale = layer.weight.data if layer.weight is not None else np.ones(c, np.float32)
    bias = layer.bias.data if layer.bias is not None else np.zeros(c, np.float32)
    return [w.init(f"{where}.weight", scale), w.init(f"{where}.bias", bias)]


def _batch_norm(w, layer, x, where):
    if layer.running_mean is None:
        raise ValueError(f"fastnn.onnx.export: {where}: {type(layer).__name__} without running "
                         "statistics (track_running_stats=False) has no inference form")
    args = [x, *_affine(w, layer, where), w.init(f"{where}.running_mean", layer.running_mean),
            w.init(f"{where}.running_var", layer.running_var)]
    mom = 0.9 if layer.momentum is None else 1.0 - layer.momentum
    return w.node("BatchNormalization", args, where, epsilon=layer.eps, momentum=mom)


def _tile(w, layer, x, shape, where):
    """Tile's repeats cover the trailing axes; more repeats than axes first reshape the input
    with leading 1s after the batch axis (nn.Tile's rule)."""
    reps = list(layer.repeats)
    lead = len(reps) - (len(shape) - 1)
    if lead > 0:  # (0: the batch size, copied)
        new = w.init(f"{where}.shape", [0] + [1] * lead + list(shape[1:]), np.int64)
        (x,) = w.node("Reshape", [x, new], where + "_reshape")
    else:
        reps = [1] * -lead + reps
    return w.node("Tile", [x, w.init(f"{where}.repeats", [1] + reps, np.int64)], where)


def write(w, layer, ins, vals, where):
    t = type(layer)
    if t in _BATCH:
        return _batch_norm(w, layer, ins[0], where)
    if t in _INSTANCE:
        if layer.running_mean is not None:  # eval mode normalises with the running statistics
            return _batch_norm(w, layer, ins[0], where)
        return w.node("InstanceNormalization", [ins[0], *_affine(w, layer, where)], where,
                      epsilon=layer.eps)
    if t in _UNARY:
        return w.node(_UNARY[t], ins, where)
    if t in _BINARY:
        return w.node(_BINARY[t], ins, where)
    if t is nn.Tile:
        return _tile(w, layer, ins[0], vals[0].shape, where)
    return None
