"""fastnn -> ONNX for the 1-D layers (Conv1d, MaxPool1d, AvgPool1d, the 1-D pads), the global
max / adaptive pools and the 2-D pads: called first by ``_export._layer``; None for any other
layer."""
import numpy as np

from fastnn import nn

_PAD_MODES = {nn.ReflectionPad1d: "reflect", nn.ReplicationPad1d: "edge",
              nn.CircularPad1d: "wrap", nn.ReflectionPad2d: "reflect",
              nn.ReplicationPad2d: "edge", nn.CircularPad2d: "wrap",
              "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(w, x, begins, ends, mode, value, where):
    """A Pad node for (N, C, *spatial): ``begins`` / ``ends`` per spatial axis. Circular padding
    is mode 'wrap', which ONNX has from opset 19."""
    if mode == "wrap" and w.opset < 19:
        raise ValueError(f"fastnn.onnx.export: {where}: circular padding is ONNX Pad mode 'wrap', "
                         f"which needs opset >= 19, got opset {w.opset}")
    args = [x, w.init(f"{where}.pads", [0, 0, *begins, 0, 0, *ends], np.int64)]
    if mode == "constant":
        args.append(w.init(f"{where}.value", np.float32(value)))
    return w.node("Pad", args, where, mode=mode)


def write(w, layer, x, where):
    t = type(layer)
    if t is nn.Conv1d:
        p, (left, right) = layer._split_padding()
        if layer.padding_mode != "zeros" and (left or right):  # a Pad node first
            (x,) = pad(w, x, [left], [right], _PAD_MODES[layer.padding_mode], 0.0, where + "_pad")
            left = right = 0
        args = [x, w.init(f"{where}.weight", layer.weight.data)]
        if layer.bias is not None:
            args.append(w.init(f"{where}.bias", layer.bias.data))
        return w.node("Conv", args, where, kernel_shape=list(layer.kernel_size),
                      strides=list(layer.stride), pads=[p + left, p + right],
                      dilations=list(layer.dilation), group=layer.groups)
    if t in (nn.MaxPool1d, nn.AvgPool1d):
        p = layer.padding[1]
        attrs = dict(kernel_shape=[layer.kernel_size[1]], strides=[layer.stride[1]], pads=[p, p],
                     ceil_mode=int(layer.ceil_mode))
        if t is nn.AvgPool1d:
            return w.node("AveragePool", [x], where,
                          count_include_pad=int(layer.count_include_pad), **attrs)
        return w.node("MaxPool", [x], where, dilations=[layer.dilation[1]], **attrs)
    if t in (nn.ZeroPad1d, nn.ConstantPad1d, nn.ReflectionPad1d, nn.ReplicationPad1d,
             nn.CircularPad1d):
        left, right = layer.padding
        return pad(w, x, [left], [right], _PAD_MODES.get(t, "constant"), layer.value, where)
    if t in (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d,
             nn.CircularPad2d):
        left, right, top, bottom = layer.padding
        return pad(w, x, [top, left], [bottom, right], _PAD_MODES.get(t, "constant"),
                   layer.value, where)
    if t in (nn.GlobalMaxPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d):
        op = "GlobalAveragePool" if t in (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d) else \
            "GlobalMaxPool"
        (y,) = w.node(op, [x], where)
        keep = getattr(layer, "keepdim", True)
        return [y] if keep else w.node("Flatten", [y], where + "_flatten", axis=1)
    return None
