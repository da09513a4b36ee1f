"""Greedy layer-wise pre-training (Hinton et al. 2006; Bengio et al. 2007) of a Sequential.

The *hidden layers* are the model's Linear and Conv2d layers except the last one (the output
layer, left for fine-tuning). Hidden layer k forms a *block* with the BatchNorm and activation
that directly follow it (up to and including the first activation); everything before the block
-- earlier blocks and the layers between them (pooling, dropout, flatten) -- is its frozen
*input path*, run in eval mode (dropout off, batch norm on its running statistics), so each
block trains on the frozen output of the layers below. Blocks are trained in order, 0 first.

method="autoencoder": a temporary, **untied** decoder maps the block's output back to its input
-- ``Linear(out, in)`` for a Linear, ``ConvTranspose2d(out, in, same kernel/stride/padding/
dilation)`` for a Conv2d -- and block + decoder minimise the mean squared reconstruction error.
Untied (the decoder has its own weights) works for both layer kinds and for any activation;
tied weights (decoder = encoder transposed) would halve the parameters but couple the two
updates. The decoder is discarded afterwards.

method="supervised" (Bengio et al. 2007): a temporary head (Flatten if needed, then Linear to
the targets' width) on top of the block; block + head minimise CrossEntropyLoss for integer
class labels ``y`` of shape (N,), MSELoss otherwise. The head is discarded afterwards.

Returns a PretrainReport: for each hidden layer its name, ``losses`` (the mean training loss of
each epoch), and ``initial_loss`` / ``final_loss``: the loss over the data in eval mode before and
after its training.
"""
import numbers

import numpy as np

__all__ = ["pretrain_greedy", "PretrainReport"]


class PretrainReport:
    """``layers``: a list of dicts {"layer": "0", "label": "0 (Linear)", "initial_loss",
    "losses", "final_loss"} in training order; ``report["0"]`` looks one up by layer name."""

    def __init__(self, method, layers):
        self.method = method
        self.layers = layers

    def __getitem__(self, name):
        for entry in self.layers:
            if entry["layer"] == name:
                return entry
        raise KeyError(name)

    def __repr__(self):
        parts = ", ".join(f"{e['label']}: {e['initial_loss']:.4g} -> {e['final_loss']:.4g}"
                          for e in self.layers)
        return f"PretrainReport({self.method}; {parts})"


def _blocks(model):
    from fastnn.nn.activation import _Elementwise
    from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d
    from fastnn.nn.conv import Conv2d
    from fastnn.nn.linear import Linear
    layers = list(model)
    weights = [i for i, m in enumerate(layers) if isinstance(m, (Linear, Conv2d))]
    if len(weights) < 2:
        raise ValueError("model: greedy pre-training needs at least one hidden Linear/Conv2d "
                         f"layer before the output layer; the model has {len(weights)} in all")
    out = []
    for i in weights[:-1]:
        j = i + 1
        while j < len(layers) and isinstance(layers[j], (BatchNorm1d, BatchNorm2d)):
            j += 1
        if j < len(layers) and isinstance(layers[j], _Elementwise):
            j += 1
        out.append((i, j))
    return out


def _decoder(layer, label, in_shape):
    from fastnn import nn
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.out_features, layer.in_features)
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"model: layer {label}: the autoencoder method supports Conv2d with "
                         f"groups=1 only (use method='supervised')")
    pads = []
    for d in range(2):
        h = in_shape[2 + d]
        k, s, p, dil = (layer.kernel_size[d], layer.stride[d], layer.padding[d],
                        layer.dilation[d])
        h_out = (h + 2 * p - dil * (k - 1) - 1) // s + 1
        op = h - ((h_out - 1) * s - 2 * p + dil * (k - 1) + 1)
        if not 0 <= op < max(s, dil):
            raise ValueError(f"model: layer {label}: no ConvTranspose2d maps its output back "
                             f"to the input size {h}")
        pads.append(op)
    return nn.ConvTranspose2d(layer.out_channels, layer.in_channels, layer.kernel_size,
                              stride=layer.stride, padding=layer.padding,
                              output_padding=tuple(pads), dilation=layer.dilation)


def _batches(n, batch_size, rng):
    order = rng.permutation(n)
    for s in range(0, n, batch_size):
        yield np.sort(order[s:s + batch_size])


def pretrain_greedy(model, x, method="autoencoder", epochs=5, y=None, seed=None, *, lr=1e-3,
                    batch_size=64):
    """Pre-train the hidden layers of Sequential ``model`` greedily, one at a time, with Adam
    (``lr``); see the module doc. ``y`` is required by (only) method="supervised". Returns a
    PretrainReport. The model's train/eval modes are restored afterwards; the output layer and
    the model's other parameters are not changed."""
    import fastnn
    from fastnn import nn, optim
    from fastnn.nn.module import Sequential
    from fastnn.train.loop import _as_arrays, _check_int, _keep_modes, _to_float
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a fastnn.nn.Sequential, got {type(model).__name__}")
    if method not in ("autoencoder", "supervised"):
        raise ValueError(f"method: expected 'autoencoder' or 'supervised', got {method!r}")
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    if seed is not None:
        _check_int("seed", seed, 0)
    if method == "supervised":
        if y is None:
            raise ValueError("y: method='supervised' needs targets y")
        x, y = _as_arrays(x, y, "x")
    else:
        x, _ = _as_arrays(x, None, "x")
    classify = method == "supervised" and y.ndim == 1 and y.dtype.kind in "iu"
    n_out = (int(y.max()) + 1 if classify else int(np.prod(y.shape[1:]) or 1)) \
        if method == "supervised" else 0
    blocks = _blocks(model)
    layers = list(model)
    names = list(model._modules)
    rng = np.random.default_rng(seed)
    if seed is not None:
        fastnn.manual_seed(seed)
    report = []
    with _keep_modes(model):
        for i, j in blocks:
            label = f"{names[i]} ({type(layers[i]).__name__})"
            below, block = Sequential(*layers[:i]), Sequential(*layers[i:j])
            below.eval()
            sample = _to_float(x[:1])
            h1 = below(sample) if i else sample
            if method == "autoencoder":
                extra = _decoder(layers[i], label, np.shape(h1))
                loss_fn = nn.MSELoss()
            else:
                feat = int(np.prod(np.shape(block.eval()(h1))[1:]))
                extra = nn.Sequential(nn.Flatten(), nn.Linear(feat, n_out))
                loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
            params = [p for p in list(block.parameters()) + list(extra.parameters())
                      if p.requires_grad]
            opt = optim.Adam(params, lr=float(lr))

            def target(idx, h):
                if method == "autoencoder":
                    return h
                t = y[idx]
                return t if classify else np.asarray(t, np.float32).reshape(len(t), -1)

            def run(train):
                total, count = 0.0, 0
                block.train(train)
                extra.train(train)
                for idx in _batches(len(x), batch_size, rng):
                    xb = _to_float(x[idx])
                    h = below(xb) if i else xb
                    out = extra(block(h))
                    loss = float(loss_fn(out, target(idx, h)))
                    total += loss * len(idx)
                    count += len(idx)
                    if train:
                        opt.zero_grad()
                        block.backward(extra.backward(loss_fn.backward()))
                        opt.step()
                return total / count

            initial = run(False)
            losses = [run(True) for _ in range(epochs)]
            report.append({"layer": names[i], "label": label, "initial_loss": initial,
                           "losses": losses, "final_loss": run(False)})
    return PretrainReport(method, report)
