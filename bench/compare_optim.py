"""Adam step: fastnn's fused C++ step against torch.optim.Adam, default and fused=True.

    python bench/compare.py optim [--threads N] [--rounds R] [--min-time S] [--only mlp|10m]

Two parameter sets: the MNIST MLP 784-512-256-10 as its six tensors (0.535M parameters, ~15 MB
of traffic per step: fits in L3) and 10M parameters in three large tensors (280 MB per step:
memory-bound). Same thread count for both libraries; the three contenders are timed interleaved
(A B C A B C ...) and medians reported. GB/s counts 28 bytes per parameter per step (read p, g,
m, v; write p, m, v), the minimum traffic of an Adam step.
"""
import argparse
import os
import sys

import numpy as np

# Run from a source checkout (the in-place build) without installing fastnn.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastnn  # noqa: E402
from fastnn import optim  # noqa: E402
from fastnn.nn import Parameter  # noqa: E402
from timing import table, time_interleaved  # noqa: E402

SETS = {
    "mlp": [(512, 784), (512,), (256, 512), (256,), (10, 256), (10,)],
    "10m": [(2500, 2000), (2000, 2000), (1000, 1000)],
}
BYTES_PER_PARAM = 28


def torch_default_path(torch):
    """What torch.optim.Adam() runs on CPU tensors when foreach/fused are left at None."""
    from torch.optim.optimizer import _default_to_fused_or_foreach
    fused, foreach = _default_to_fused_or_foreach([torch.zeros(1)], differentiable=False,
                                                  use_fused=False)
    if fused:
        return "fused"
    return "foreach (multi-tensor)" if foreach else "for-loop over tensors (_single_tensor_adam)"


def bench_set(name, shapes, torch, rounds, min_time):
    rng = np.random.default_rng(0)
    n = sum(int(np.prod(s)) for s in shapes)
    ours = [Parameter(rng.standard_normal(s).astype(np.float32) * 0.05) for s in shapes]
    for p in ours:
        p.grad[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.01
    opt = optim.Adam(ours, lr=1e-3)
    fns, labels = [opt.step], ["fastnn Adam (fused C++)"]
    if torch is not None:
        def tparams():
            ps = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
            for tp, p in zip(ps, ours):
                tp.grad = torch.from_numpy(p.grad.copy())
            return ps
        t_def = torch.optim.Adam(tparams(), lr=1e-3)
        t_fused = torch.optim.Adam(tparams(), lr=1e-3, fused=True)
        fns += [t_def.step, t_fused.step]
        labels += ["torch Adam() default", "torch Adam(fused=True)"]
    med, best = time_interleaved(fns, rounds, min_time)
    rows = []
    for i, label in enumerate(labels):
        row = [f"{name} ({n / 1e6:.3f}M)", label, f"{med[i] * 1e6:9.1f}",
               f"{best[i] * 1e6:9.1f}", f"{BYTES_PER_PARAM * n / med[i] / 1e9:6.1f}"]
        if torch is not None:
            row += [f"{med[1] / med[i]:6.2f}x", f"{med[2] / med[i]:6.2f}x",
                    f"{best[1] / best[i]:6.2f}x", f"{best[2] / best[i]:6.2f}x"]
        rows.append(row)
    return rows, med


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py optim", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="default: fastnn's thread count")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.1)
    ap.add_argument("--only", choices=sorted(SETS), default=None)
    args = ap.parse_args(argv)
    if args.threads:
        fastnn.set_num_threads(args.threads)
    threads = fastnn.get_num_threads()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    print(f"Adam step, {threads} thread(s), fastnn ISA {fastnn.get_isa()}"
          + (f", torch {torch.__version__} (threads {torch.get_num_threads()})" if torch else
             ", torch not installed"))
    if torch is not None:
        print(f"torch.optim.Adam() default on CPU: {torch_default_path(torch)}")
    headers = ["params", "implementation", "us/step (median)", "us/step (best)", "GB/s (median)"]
    if torch is not None:
        headers += ["vs default", "vs fused", "vs default (best)", "vs fused (best)"]
    rows = []
    for name in ([args.only] if args.only else ["mlp", "10m"]):
        r, _ = bench_set(name, SETS[name], torch, args.rounds, args.min_time)
        rows += r
    print(table(headers, rows))
    print(f"(GB/s counts {BYTES_PER_PARAM} bytes per parameter per step; 'vs' columns are the "
          "torch time divided by this row's time, > 1 means this row is faster: of the medians, "
          "and of the best rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
