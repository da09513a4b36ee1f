"""binarize / ternarize: a model's Linear and Conv2d layers become BinaryLinear/BinaryConv2d
(XNOR-Net, 1 bit per weight) or TernaryLinear/TernaryConv2d (TWN, 2 bits), keeping their latent
weights and biases, so the result can be fine-tuned (the straight-through estimator) and saved
with ``fastnn.save(..., pack_bits=True)``. The first and the last layer stay float by default,
as the literature does (they hold few weights and lose the most accuracy)."""
import copy

import numpy as np

from fastnn.nn.binary import BinaryConv2d, BinaryLinear, TernaryConv2d, TernaryLinear
from fastnn.nn.conv import Conv2d
from fastnn.nn.linear import Linear
from fastnn.prune._common import check_model, resolve_layers


def _convert(layer, kind, binary_inputs):
    if isinstance(layer, Linear):
        if kind == "binary":
            new = BinaryLinear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                               binary_inputs=binary_inputs)
        else:
            new = TernaryLinear(layer.in_features, layer.out_features,
                                bias=layer.bias is not None)
    else:
        args = (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                layer.padding, layer.dilation, layer.groups, layer.bias is not None)
        new = (BinaryConv2d(*args, binary_inputs=binary_inputs) if kind == "binary"
               else TernaryConv2d(*args))
    new.weight.data[...] = layer.weight.data
    new.weight.requires_grad = layer.weight.requires_grad
    if layer.bias is not None:
        new.bias.data[...] = layer.bias.data
        new.bias.requires_grad = layer.bias.requires_grad
    return new.train(layer.training)


def _run(model, kind, skip_first_last, binary_inputs, layers, x, y, where):
    check_model(model, where)
    if not isinstance(skip_first_last, bool):
        raise TypeError(f"{where}: skip_first_last: expected True or False, got "
                        f"{skip_first_last!r}")
    if not isinstance(binary_inputs, bool):
        raise TypeError(f"{where}: binary_inputs: expected True or False, got {binary_inputs!r}")
    if (x is None) != (y is None):
        raise ValueError(f"{where}: x, y: give both (to report the accuracy) or neither")
    named = [(n, m) for n, m in resolve_layers(model, layers, where)
             if type(m) in (Linear, Conv2d)]
    if layers is None and skip_first_last:
        named = named[1:-1]
    new = copy.deepcopy(model)
    mods = dict(new.named_modules())
    bits = 1 if kind == "binary" else 2
    report = {"layers": {}, "bits": bits}
    for name, _ in named:
        layer = mods[name]
        n = layer.weight.data.size
        rec = {"type": type(layer).__name__, "weights": n, "float_bytes": 4 * n,
               "packed_bytes": -(-n * bits // 8) + 4 * layer.weight.data.shape[0],
               "converted": True}
        if kind == "binary" and binary_inputs and isinstance(layer, Conv2d) and layer.groups != 1:
            rec.update(converted=False, packed_bytes=4 * n,
                       reason="grouped conv with binary inputs is not supported")
            report["layers"][name] = rec
            continue
        report["layers"][name] = rec
        conv = _convert(layer, kind, binary_inputs)
        if not name:
            new = conv
        else:
            parent_name, _, child = name.rpartition(".")
            setattr(mods[parent_name] if parent_name else new, child, conv)
    if not report["layers"]:
        raise ValueError(f"{where}: model: no Linear or Conv2d layer to convert (the first and "
                         "the last stay float with skip_first_last=True)")
    total = sum(p.data.size for p in model.parameters())
    conv_w = sum(r["weights"] for r in report["layers"].values() if r["converted"])
    packed = sum(r["packed_bytes"] for r in report["layers"].values() if r["converted"])
    report["float_bytes"] = 4 * total
    report["packed_bytes"] = 4 * (total - conv_w) + packed
    report["ratio"] = report["float_bytes"] / report["packed_bytes"]
    if x is not None:
        from fastnn.train.loop import predict
        for key, m in (("accuracy_before", model), ("accuracy", new)):
            out = predict(m, np.asarray(x, np.float32))
            report[key] = float((np.asarray(out).argmax(1) == np.asarray(y)).mean())
    return new, report


def binarize(model, skip_first_last=True, binary_inputs=False, layers=None, x=None, y=None):
    """A copy of ``model`` whose Linear/Conv2d layers (all but the first and the last, or those
    named in ``layers``) are BinaryLinear/BinaryConv2d with the same latent weights. Returns
    (new_model, report): per layer weights and bytes as float32 and packed (1 bit + a float32
    alpha per output channel), the model's totals and ratio, and with (x, y) the accuracy
    before and after (no fine-tuning: fine-tune the result, then save it with
    ``fastnn.save(..., pack_bits=True)``)."""
    return _run(model, "binary", skip_first_last, binary_inputs, layers, x, y, "binarize")


def ternarize(model, skip_first_last=True, layers=None, x=None, y=None):
    """As ``binarize``, with TernaryLinear/TernaryConv2d (2 bits per weight)."""
    return _run(model, "ternary", skip_first_last, False, layers, x, y, "ternarize")
