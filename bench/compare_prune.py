"""Pruning benchmarks: what sparsity buys at inference, measured side by side in one run.

    python bench/compare.py prune [--section kernels,models] [--threads 1,2] [--quick]
                                  [--rounds N] [--min-time S] [--stat median|min]
                                  [--data PATH] [--epochs E] [--prune-epochs E]
                                  [--finetune-epochs E] [--cnn-epochs E] [--cnn-prune-epochs E]
                                  [--cnn-train N] [--reference] [--speed-only]

Sections:
  kernels   the CSR sparse x dense kernels against fastnn's own dense GEMM on the same weights
            (fastnn.ops.matmul, the path a dense layer takes), timed alternately (A B A B ...,
            medians; bench/timing.py time_pair):
              linear    x @ W.T + b, W = 1024x1024 with 90% zeros, batch 1 / 64 / 256
                        (targets: >= 4x at batch 1, >= 2.5x at 64 and 256)
              conv      W @ X, W = 64 x 288 (Cout x Cin*3*3) with 90% zeros, X = 288 x pixels
                        (an im2col matrix, NCHW order; target >= 1.5x)
              crossover the same Linear at 30..95% zeros: from which sparsity sparse wins
            numpy (its BLAS, same thread count) is shown for context on the linear rows.

  models    whole MNIST models pruned with fastnn.prune (bench/prune_models.py): accuracy after
            gradual 90% / unit 50% pruning of the MLP and 75% of the CNN, inference speed of the
            unit-pruned MLP and of the 90% MLP through to_sparse.

Times are medians of the alternations (--stat min: the fastest block of each side, which filters
out the time slices other processes take on a loaded machine; both sides alike).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the in-place build when run from a checkout
sys.path.insert(0, HERE)

import fastnn  # noqa: E402
from fastnn.prune import SparseLinearWeights  # noqa: E402
from timing import table, time_fn  # noqa: E402

LINEAR_BATCHES = [(1, 4.0), (64, 2.5), (256, 2.5)]  # (batch, target speed-up)
CONV_PIXELS = [(28 * 28, "1 image 28x28"), (8 * 32 * 32, "8 images 32x32")]
CONV_TARGET = 1.5
# Fractions of zeros for the crossover (50..95% asked; 30 and 40% show where the gain ends).
SWEEP = [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def time_pair(fa, fb, rounds, min_time, stat):
    """Seconds per call of fa and fb, timed alternately (A B A B ...); median or min of blocks."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(time_fn(fa, min_time=min_time, repeats=1, warmup=0))
        tb.append(time_fn(fb, min_time=min_time, repeats=1, warmup=0))
    pick = min if stat == "min" else statistics.median
    return pick(ta), pick(tb)


def pruned(rng, rows, cols, sparsity):
    """A float32 weight with exactly round(sparsity * size) zeros at random positions."""
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    w.reshape(-1)[rng.permutation(w.size)[:int(round(sparsity * w.size))]] = 0.0
    return w


def agree(a, b, k, what):
    # A benchmark of a wrong answer is worthless: same inputs, same result (float32 rounding).
    scale = np.sqrt(k) * (np.abs(b).max() + 1.0)
    assert np.max(np.abs(a - b)) <= 1e-5 * scale, f"{what}: sparse and dense disagree"


def linear_case(rng, batch, sparsity, n=1024, k=1024):
    w = pruned(rng, n, k, sparsity)
    s = SparseLinearWeights(w)
    x = rng.standard_normal((batch, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    out_d = np.empty((batch, n), np.float32)
    out_s = np.empty((batch, n), np.float32)

    def dense():
        fastnn.ops.matmul(x, w, trans_b=True, bias=b, out=out_d)

    def sparse():
        s.linear(x, b, out=out_s)

    dense()
    sparse()
    agree(out_s, out_d, k, f"linear batch {batch}")
    return dense, sparse, s, (x, w, b)


def conv_case(rng, pixels, sparsity, cout=64, ckk=288):
    w = pruned(rng, cout, ckk, sparsity)
    s = SparseLinearWeights(w)
    cols = rng.standard_normal((ckk, pixels)).astype(np.float32)
    out_d = np.empty((cout, pixels), np.float32)
    out_s = np.empty((cout, pixels), np.float32)

    def dense():
        fastnn.ops.matmul(w, cols, out=out_d)

    def sparse():
        s.matmul(cols, out=out_s)

    dense()
    sparse()
    agree(out_s, out_d, ckk, f"conv {pixels} pixels")
    return dense, sparse, s


def numpy_linear_time(args, x, w, b, min_time):
    out = np.empty((x.shape[0], w.shape[0]), np.float32)

    def f():
        np.matmul(x, w.T, out=out)
        np.add(out, b, out=out)

    t = time_fn(f, min_time=min_time, repeats=3)
    time.sleep(0.1)  # let BLAS threads stop spinning before fastnn is timed again
    return t


def section_kernels(args, threads):
    rng = np.random.default_rng(0)
    rows, targets = [], []
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    for nt in threads:
        fastnn.set_num_threads(nt)
        for batch, target in LINEAR_BATCHES:
            dense, sparse, s, (x, w, b) = linear_case(rng, batch, 0.9)
            td, ts = time_pair(dense, sparse, args.rounds, args.min_time, args.stat)
            tn = None
            if threadpool_limits is not None:
                with threadpool_limits(limits=nt, user_api="blas"):
                    tn = numpy_linear_time(args, x, w, b, args.min_time)
            flops_d, flops_s = 2.0 * batch * w.size, 2.0 * batch * s.nnz
            rows.append([nt, f"linear 1024->1024 b={batch}", "90%", f"{td * 1e6:.1f}",
                         f"{ts * 1e6:.1f}", f"{td / ts:.2f}", f"{flops_d / td / 1e9:.1f}",
                         f"{flops_s / ts / 1e9:.1f}", f"{tn * 1e6:.1f}" if tn else "-"])
            targets.append([nt, f"linear b={batch}", f"{td / ts:.2f}x", f">= {target}x",
                            "met" if td / ts >= target else "MISSED"])
            print("\t".join(map(str, rows[-1])), file=sys.stderr, flush=True)
        for pixels, what in CONV_PIXELS:
            dense, sparse, s = conv_case(rng, pixels, 0.9)
            td, ts = time_pair(dense, sparse, args.rounds, args.min_time, args.stat)
            flops_d, flops_s = 2.0 * 64 * 288 * pixels, 2.0 * s.nnz * pixels
            rows.append([nt, f"conv 64x288 @ 288x{pixels} ({what})", "90%", f"{td * 1e6:.1f}",
                         f"{ts * 1e6:.1f}", f"{td / ts:.2f}", f"{flops_d / td / 1e9:.1f}",
                         f"{flops_s / ts / 1e9:.1f}", "-"])
            targets.append([nt, f"conv {pixels} px", f"{td / ts:.2f}x", f">= {CONV_TARGET}x",
                            "met" if td / ts >= CONV_TARGET else "MISSED"])
            print("\t".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    print("\n== kernels: sparse (CSR) vs fastnn dense GEMM on the same weights")
    print(table(["thr", "case", "zeros", "dense us", "sparse us", "speed-up", "dense GF/s",
                 "sparse GF/s*", "numpy us"], rows))
    print("* sparse GF/s counts only the stored entries (2 x batch x nnz); dense counts all.")
    print(table(["thr", "target", "measured", "wanted", ""], targets))

    # Crossover: from which sparsity the sparse kernel beats the dense GEMM, per batch size.
    sweep_rows = []
    for nt in threads:
        fastnn.set_num_threads(nt)
        for batch, _ in LINEAR_BATCHES:
            ratios = []
            for sp in SWEEP:
                dense, sparse, _, _ = linear_case(rng, batch, sp)
                td, ts = time_pair(dense, sparse, args.sweep_rounds, args.min_time, args.stat)
                ratios.append(td / ts)
            wins = [sp for sp, r in zip(SWEEP, ratios) if r >= 1.0]
            first = next((sp for i, sp in enumerate(SWEEP) if all(r >= 1.0 for r in ratios[i:])), None)
            cross = ("never" if not wins else f"<= {SWEEP[0]:.0%}" if first == SWEEP[0]
                     else f"{first:.0%}")
            sweep_rows.append([nt, batch] + [f"{r:.2f}" for r in ratios] + [cross])
            print("\t".join(map(str, sweep_rows[-1])), file=sys.stderr, flush=True)
    print("\n== crossover: Linear 1024->1024, dense time / sparse time by fraction of zeros")
    print(table(["thr", "batch"] + [f"{sp:.0%}" for sp in SWEEP] + ["sparse wins from"], sweep_rows))

    w = pruned(rng, 1024, 1024, 0.9)
    s = SparseLinearWeights(w)
    print(f"\nbytes: dense W {w.nbytes / 2**20:.2f} MiB; CSR W {s.nbytes / 2**20:.2f} MiB "
          f"(nnz {s.nnz}: 4 B value + 4 B column each, + 8 B per row offset) = "
          f"{s.nbytes / w.nbytes:.2f} of dense")


def section_models(args, threads):
    from prune_models import section_models as run
    run(args, threads)


SECTIONS = {"kernels": section_kernels, "models": section_models}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py prune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--section", default="all", help="comma list of: " + ", ".join(SECTIONS))
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--quick", action="store_true", help="fewer alternations")
    ap.add_argument("--rounds", type=int, default=None, help="alternations per row (default 7, quick 3)")
    ap.add_argument("--sweep-rounds", type=int, default=None,
                    help="alternations per crossover point (default 3, quick 1)")
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per timed block")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="statistic over the alternations (default median)")
    ap.add_argument("--data", default=None, help="mnist.npz (default ../shared/data/mnist.npz)")
    ap.add_argument("--epochs", type=int, default=3, help="models: dense MLP training epochs")
    ap.add_argument("--prune-epochs", type=int, default=5,
                    help="models: epochs of gradual pruning + fine-tuning (MLP)")
    ap.add_argument("--finetune-epochs", type=int, default=2,
                    help="models: fine-tuning epochs after unit pruning (MLP)")
    ap.add_argument("--cnn-epochs", type=int, default=2, help="models: dense CNN epochs (0: skip)")
    ap.add_argument("--cnn-prune-epochs", type=int, default=3,
                    help="models: epochs of gradual pruning + fine-tuning (CNN)")
    ap.add_argument("--cnn-train", type=int, default=30000,
                    help="models: CNN training images (the first N)")
    ap.add_argument("--speed-only", action="store_true",
                    help="models: only the MLP inference timings, on untrained pruned weights")
    ap.add_argument("--reference", action="store_true",
                    help="models: also train the dense models as long as the pruned ones")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.sweep_rounds = args.sweep_rounds or (1 if args.quick else 3)
    names = list(SECTIONS) if args.section == "all" else [s.strip() for s in args.section.split(",")]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    threads = [int(t) for t in args.threads.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"fastnn {fastnn.__version__}, ISA {fastnn.get_isa()}, threads {threads}; {args.stat}s of "
          f"{args.rounds} alternations of {args.min_time}s blocks; load average {load:.1f} on "
          f"{os.cpu_count()} CPUs")
    before = fastnn.get_num_threads()
    try:
        for name in names:
            SECTIONS[name](args, threads)
    finally:
        fastnn.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
