"""The graph executor's overhead: the same layers run as a Sequential and as an nn.Model.

    python bench/compare.py graph [--data PATH] [--threads N] [--rounds R]

For the MNIST MLP and CNN (bench/compare_mnist.py's models): training samples/s (forward, loss,
backward, Adam step over the same batches) and inference at batch 1 and 256 (fastnn.no_grad),
Sequential vs nn.Model sharing the same layer objects, timed interleaved (A B A B ...): medians
and bests of R rounds, as ratios (graph / Sequential speed; 1.00 = no overhead). Random data
when MNIST is absent (the speed does not depend on the values).
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from fastnn._timing import load_note  # noqa: E402
from timing import table, time_interleaved  # noqa: E402
from compare_mnist import default_data_path, fastnn_cnn, fastnn_mlp  # noqa: E402


def as_graph(seq, sample_shape):
    x = nn.Input(sample_shape)
    h = x
    for layer in seq:
        h = layer(h)
    return nn.Model(x, h)


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
                model.backward(loss.backward())
                opt.step()
        return step

    def infer(model, x, reps):
        def go():
            model.eval()
            with fastnn.no_grad():
                for _ in range(reps):
                    model(x)
        return go

    rows = []
    cases = [("train", trainer(seq), trainer(graph), bs * n),
             ("infer b=256", infer(seq, np.concatenate(xb)[:256], 4),
              infer(graph, np.concatenate(xb)[:256], 4), 4 * 256),
             ("infer b=1", infer(seq, xb[0][:1], 200), infer(graph, xb[0][:1], 200), 200)]
    for what, fs, fg, samples in cases:
        med, best = time_interleaved([fs, fg], rounds=rounds, min_time=0.3)
        rows.append([kind, what, f"{samples / med[0]:,.0f}", f"{samples / med[1]:,.0f}",
                     f"{med[0] / med[1]:.3f}", f"{best[0] / best[1]:.3f}"])
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
    print(f"graph executor vs Sequential, {args.threads} thread(s), {load}"
          + (f" ({note})" if note else "") + f"; data: {'MNIST' if data is not None else 'random'}")
    print(table(["model", "what", "Sequential /s", "Model /s", "ratio median", "ratio best"],
                rows))
    print("ratio: the Model's speed over the Sequential's (1.000 = same; < 1 = graph slower)")


if __name__ == "__main__":
    main(sys.argv[1:])
