"""The graph executor's overhead: the same layers run three ways.

    python bench/compare.py graph [--data PATH] [--threads N] [--rounds R]

For the MNIST MLP and CNN (bench/compare_mnist.py's models): training samples/s (forward, loss,
backward, Adam step over the same batches) and inference at batch 1 and 256 (fastnn.no_grad),
timed interleaved (A B C A B C ...), medians and bests of R rounds, for
  * loop: a plain loop over the layers (each called, then back-propagated in reverse; a Linear
    absorbing its activation) -- what Sequential ran before it became a graph;
  * Sequential: a chain on the graph executor (fastnn/nn/_exec.py);
  * Model: the same layers as an nn.Model graph.
Ratios are speeds over the loop's (1.000 = no overhead; < 1 = slower). Random data when MNIST is
absent (the speed does not depend on the values).
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from fastnn.nn import _calls  # noqa: E402
from fastnn._timing import load_note  # noqa: E402
from timing import table, time_interleaved  # noqa: E402
from compare_mnist import default_data_path, fastnn_cnn, fastnn_mlp  # noqa: E402


def as_graph(seq, sample_shape):
    x = nn.Input(sample_shape)
    h = x
    for layer in seq:
        h = layer(h)
    return nn.Model(x, h)


class Loop(nn.Module):
    """The pre-graph Sequential: layers called in order, backward in reverse (reference only)."""

    def __init__(self, layers):
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def forward(self, x):
        layers = list(self._modules.values())
        i = 0
        while i < len(layers):
            if i + 1 < len(layers) and type(layers[i]).forward_fused is not \
                    nn.Module.forward_fused:
                y = _calls.run_fused(layers[i], layers[i + 1], x)
                if y is not None:
                    x = y
                    i += 2
                    continue
            x = layers[i](x)
            i += 1
        return x

    def backward(self, grad_out):
        for layer in reversed(list(self._modules.values())):
            grad_out = layer.backward(grad_out)
        return grad_out


def batches(kind, data, bs, n):
    shape = (-1, 784) if kind == "mlp" else (-1, 1, 28, 28)
    rng = np.random.default_rng(0)
    if data is not None:
        xtr, ytr = data
        idx = rng.permutation(len(xtr))[:bs * n]
        x, y = xtr[idx], ytr[idx]
    else:
        x = rng.random((bs * n, 784), dtype=np.float32)
        y = rng.integers(0, 10, bs * n)
    x = x.reshape(shape)
    return ([np.ascontiguousarray(x[i * bs:(i + 1) * bs]) for i in range(n)],
            [y[i * bs:(i + 1) * bs] for i in range(n)])


def run(kind, data, rounds):
    fastnn.manual_seed(0)
    seq = fastnn_mlp() if kind == "mlp" else fastnn_cnn()
    graph = as_graph(seq, (784,) if kind == "mlp" else (1, 28, 28))
    bs, n = (128, 20) if kind == "mlp" else (64, 6)
    xb, yb = batches(kind, data, bs, n)
    loss = nn.CrossEntropyLoss()
    opt = optim.Adam(seq.parameters(), lr=1e-3)  # same parameters: one optimizer serves both

    def trainer(model):
        def step():
            model.train()
            for x, y in zip(xb, yb):
                out = model(x)
                loss(out, y)
                opt.zero_grad()
                model.backward(loss.backward(), input_grad=False)
                opt.step()
        return step

    def infer(model, x, reps):
        def go():
            model.eval()
            with fastnn.no_grad():
                for _ in range(reps):
                    model(x)
        return go

    loop = Loop(list(seq))
    rows = []
    x256, x1 = np.concatenate(xb)[:256], xb[0][:1]
    cases = [("train", [trainer(m) for m in (loop, seq, graph)], bs * n),
             ("infer b=256", [infer(m, x256, 4) for m in (loop, seq, graph)], 4 * 256),
             ("infer b=1", [infer(m, x1, 200) for m in (loop, seq, graph)], 200)]
    for what, fns, samples in cases:
        med, best = time_interleaved(fns, rounds=rounds, min_time=0.3)
        rows.append([kind, what, f"{samples / med[0]:,.0f}", f"{samples / med[1]:,.0f}",
                     f"{samples / med[2]:,.0f}",
                     f"{med[0] / med[1]:.3f} / {best[0] / best[1]:.3f}",
                     f"{med[0] / med[2]:.3f} / {best[0] / best[2]:.3f}"])
    return rows


def main(argv):
    ap = argparse.ArgumentParser(prog="compare.py graph")
    ap.add_argument("--data", default=default_data_path())
    ap.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    fastnn.set_num_threads(args.threads)
    data = None
    if os.path.exists(args.data):
        with np.load(args.data) as d:
            data = (d["x_train"].astype(np.float32) / 255.0, d["y_train"].astype(np.int64))
    rows = []
    for kind in ("mlp", "cnn"):
        rows += run(kind, data, args.rounds)
    try:
        load = f"load average {os.getloadavg()[0]:.2f}"
    except OSError:
        load = "load average unknown"
    note = load_note(args.threads)
    print(f"graph executor vs a plain layer loop, {args.threads} thread(s), {load}"
          + (f" ({note})" if note else "") + f"; data: {'MNIST' if data is not None else 'random'}")
    print(table(["model", "what", "loop /s", "Sequential /s", "Model /s",
                 "Sequential/loop median / best", "Model/loop median / best"], rows))
    print("ratios: speed over the loop's (1.000 = same; < 1 = the graph executor is slower)")


if __name__ == "__main__":
    main(sys.argv[1:])
