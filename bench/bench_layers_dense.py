"""Forward+backward of the dense/elementwise layers and losses, fastnn against PyTorch CPU on the
same inputs in the same run (interleaved), at the MNIST-CNN shapes of the layers issue (batch 64:
linear 3136->128 and 128->10; activations on the conv outputs 64x32x28x28 and 64x64x14x14).

    python bench/bench_layers_dense.py [--threads N] [--rounds R]

Prints median times and the ratio torch / fastnn (> 1: fastnn faster). Needs torch (the `bench`
extra). The machine may be shared: only ratios from one run mean anything.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from timing import table, time_pair  # noqa: E402

import fastnn  # noqa: E402
import fastnn.nn as nn  # noqa: E402


def cases(torch, rng):
    """(name, fastnn fwd+bwd closure, torch fwd+bwd closure)."""
    out = []

    def linear(n, i, o, act=None):
        fl = nn.Sequential(nn.Linear(i, o), *( [act[0]()] if act else []))
        tl = torch.nn.Sequential(torch.nn.Linear(i, o), *([act[1]()] if act else []))
        fl.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
        x = rng.standard_normal((n, i)).astype(np.float32)
        g = rng.standard_normal((n, o)).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.tensor(g)

        def f():
            fl(x)
            fl.backward(g)

        def t():
            tl(xt).backward(gt)
        return f, t

    for n, i, o in [(64, 3136, 128), (64, 128, 10)]:
        out.append((f"Linear {i}->{o}", *linear(n, i, o)))
    out.append(("Linear 3136->128 + ReLU (fused)", *linear(64, 3136, 128, (nn.ReLU, torch.nn.ReLU))))

    def elementwise(name, make, tmake, shape):
        layer, tlayer = make(), tmake()
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.tensor(g)

        def f():
            layer(x)
            layer.backward(g)

        def t():
            tlayer(xt).backward(gt)
        out.append((f"{name} {'x'.join(map(str, shape))}", f, t))

    big, mid = (64, 32, 28, 28), (64, 64, 14, 14)
    elementwise("ReLU", nn.ReLU, torch.nn.ReLU, big)
    elementwise("ReLU", nn.ReLU, torch.nn.ReLU, mid)
    elementwise("ReLU", nn.ReLU, torch.nn.ReLU, (64, 128))
    elementwise("LeakyReLU", nn.LeakyReLU, torch.nn.LeakyReLU, big)
    elementwise("ELU", nn.ELU, torch.nn.ELU, big)
    elementwise("SELU", nn.SELU, torch.nn.SELU, big)
    elementwise("GELU", nn.GELU, torch.nn.GELU, big)
    elementwise("Sigmoid", nn.Sigmoid, torch.nn.Sigmoid, big)
    elementwise("Tanh", nn.Tanh, torch.nn.Tanh, big)
    elementwise("Softmax(dim=1)", nn.Softmax, lambda: torch.nn.Softmax(1), (64, 10))
    elementwise("Softmax(dim=1)", nn.Softmax, lambda: torch.nn.Softmax(1), (64, 1000))
    elementwise("Dropout(0.5)", lambda: nn.Dropout(0.5), lambda: torch.nn.Dropout(0.5), big)
    elementwise("Dropout(0.5)", lambda: nn.Dropout(0.5), lambda: torch.nn.Dropout(0.5), (64, 128))

    for n, c in [(64, 10), (256, 1000)]:
        x = rng.standard_normal((n, c)).astype(np.float32)
        t = rng.integers(0, c, n)
        fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        xt = torch.tensor(x, requires_grad=True)
        tt = torch.tensor(t)
        tfn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

        def f(fn=fn, x=x, t=t):
            fn(x, t)
            fn.backward()

        def tf(tfn=tfn, xt=xt, tt=tt):
            tfn(xt, tt).backward()
        out.append((f"CrossEntropyLoss {n}x{c}", f, tf))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install '.[bench]'); nothing to compare against")
        return 1
    fastnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for name, f, t in cases(torch, rng):
        tf, tt = time_pair(f, t, rounds=args.rounds, min_time=0.05)
        rows.append([name, f"{tf * 1e6:.1f}", f"{tt * 1e6:.1f}", f"{tt / tf:.2f}"])
        print(rows[-1], flush=True)
    print(f"\nforward+backward, {args.threads} threads, ISA {fastnn.get_isa()}, "
          f"torch {torch.__version__}")
    print(table(["case", "fastnn us", "torch us", "torch/fastnn"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
