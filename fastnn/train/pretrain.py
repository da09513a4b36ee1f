"""Greedy layer-wise pre-training (Hinton et al. 2006; Bengio et al. 2007) of a Sequential or a
graph model (``nn.Model``; a Sequential is read as the graph of its layers, named "0", "1", ...).

The *hidden layers* are the model's Linear and Conv2d layers whose output reaches another Linear
or Conv2d (in a Sequential: all but the last one); the others are output layers, left for
fine-tuning. Hidden layer k forms a *block* with the BatchNorm and then the activation that
directly follow it when each is the only reader of the value before it; everything the block's
input depends on -- earlier layers, other branches, pooling, dropout, flatten, Concat/Add -- is
its frozen *input path*, run in inference mode (dropout off, batch norm on its running
statistics), so each block trains on the frozen output of the layers below. Blocks are trained
in execution order. A layer shared by several nodes (one layer object called twice) has no
single input below it: ValueError naming the layer. The model takes one input.

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


def _graph(model, sample_shape):
    """``model`` as an ``nn.Model`` over the same layer objects (a Sequential's layers keep
    their names: "0", "1", ...)."""
    from fastnn.nn.graph import Model, as_model
    from fastnn.nn.module import Module
    if isinstance(model, Model):
        if len(model.input_shapes) != 1:
            raise ValueError(f"model: greedy pre-training takes a model with one input (x is one "
                             f"array); this one has {len(model.input_shapes)}")
        return model
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module (Sequential or nn.Model), got "
                        f"{type(model).__name__}")
    return as_model(model, sample_shape)


def _blocks(graph):
    """[(node indices of the block, label)]: each hidden Linear/Conv2d node with the BatchNorm
    and activation that alone read its output. Hidden: another Linear/Conv2d node reads (through
    any path) its output; the others are output layers."""
    from fastnn.nn.activation import _Elementwise
    from fastnn.nn.batchnorm import BatchNorm1d, BatchNorm2d
    from fastnn.nn.conv import Conv2d
    from fastnn.nn.linear import Linear
    nodes = graph.nodes()
    weights = [i for i, n in enumerate(nodes) if isinstance(n[1], (Linear, Conv2d))]
    uses = {}
    for _, layer, _, _ in nodes:
        uses[id(layer)] = uses.get(id(layer), 0) + 1
    reaches_weight = [False] * len(nodes)  # a Linear/Conv2d node reads this node's outputs
    for i in reversed(range(len(nodes))):
        for s in nodes[i][3]:
            for r in graph.consumers(s)[0]:
                reaches_weight[i] |= r in weights or reaches_weight[r]
    hidden = [i for i in weights if reaches_weight[i]]
    if not hidden:
        raise ValueError("model: greedy pre-training needs at least one hidden Linear/Conv2d "
                         f"layer before the output layer; the model has {len(weights)} in all")
    out = []
    for i in hidden:
        name, layer = nodes[i][0], nodes[i][1]
        label = f"{name} ({type(layer).__name__})"
        if uses[id(layer)] > 1:
            raise ValueError(f"model: layer {label} is shared by {uses[id(layer)]} nodes: "
                             f"greedy pre-training trains a layer on the one input below it")
        block = [i]
        for kinds in ((BatchNorm1d, BatchNorm2d), (_Elementwise,)):
            readers, is_output = graph.consumers(nodes[block[-1]][3][0])
            if (len(readers) == 1 and not is_output and isinstance(nodes[readers[0]][1], kinds)
                    and uses[id(nodes[readers[0]][1])] == 1):
                block.append(readers[0])
        out.append((block, label))
    return out


def _input_of(graph, node, x):
    """The value node ``node`` reads, from the model input ``x``: the nodes it depends on, in
    inference mode (dropout off, batch norm on its running statistics)."""
    from fastnn.nn import _calls
    nodes = graph.nodes()
    need, todo = set(), [nodes[node][2][0]]
    producer = {s: i for i, n in enumerate(nodes) for s in n[3]}
    while todo:
        s = todo.pop()
        if s in producer and producer[s] not in need:
            need.add(producer[s])
            todo.extend(nodes[producer[s]][2])
    vals = {0: x}
    with _calls.inference_mode():
        for i in sorted(need):
            _, layer, ins, outs = nodes[i]
            out = layer.forward(*[vals[s] for s in ins])
            vals.update(zip(outs, out if isinstance(out, tuple) else (out,)))
    return vals[nodes[node][2][0]]


def _decoder(layer, label, in_shape):
    from fastnn import nn
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.out_features, layer.in_features)
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"model: layer {label}: the autoencoder method supports Conv2d with "
                         f"groups=1 only (use method='supervised')")
    from fastnn import _C
    pads = []
    out = _C.window_out_size(in_shape[2:4], layer.kernel_size, layer.stride, layer.padding,
                             layer.dilation)
    for d in range(2):
        h, h_out = in_shape[2 + d], out[d]
        k, s, p, dil = (layer.kernel_size[d], layer.stride[d], layer.padding[d],
                        layer.dilation[d])
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
    """Pre-train the hidden layers of ``model`` (a Sequential or a graph ``nn.Model``) greedily, one at a time, with Adam
    (``lr``); see the module doc. ``y`` is required by (only) method="supervised". Returns a
    PretrainReport. The model's train/eval modes are restored afterwards; the output layer and
    the model's other parameters are not changed."""
    import fastnn
    from fastnn import nn, optim
    from fastnn.nn.module import Sequential
    from fastnn.train.loop import _as_arrays, _check_int, _keep_modes, _to_float
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
    graph = _graph(model, np.shape(x)[1:])
    blocks = _blocks(graph)
    nodes = graph.nodes()
    rng = np.random.default_rng(seed)
    if seed is not None:
        fastnn.manual_seed(seed)
    report = []
    with _keep_modes(model):
        model.eval()  # the input path of each block runs in eval mode
        for idx_block, label in blocks:
            first = idx_block[0]
            block = Sequential(*[nodes[k][1] for k in idx_block])
            sample = _to_float(x[:1])
            h1 = _input_of(graph, first, sample)
            if method == "autoencoder":
                extra = _decoder(nodes[first][1], label, np.shape(h1))
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
                    h = _input_of(graph, first, xb)
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
            report.append({"layer": nodes[first][0], "label": label, "initial_loss": initial,
                           "losses": losses, "final_loss": run(False)})
    return PretrainReport(method, report)
