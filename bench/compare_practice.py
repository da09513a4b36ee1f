"""The training-practice features: their cost, measured side by side in one run.

    python bench/compare.py practice rotate       [--batch 256] [--rounds 7]
    python bench/compare.py practice diagnostics  [--samples 6400] [--rounds 3] [--threads N]

(for diagnostics, OMP_WAIT_POLICY=passive keeps idle OpenMP threads from spinning into the CPU
time)

rotate: fastnn.data.augment against scipy.ndimage.rotate(reshape=False, order=1,
mode="constant") on an MNIST batch (28x28, uint8 and float32): random_rotate (one angle per
sample) against scipy image by image (what per-sample angles need), and rotate(batch, 15) (one
angle: the shared-table kernel) against one scipy call on the whole batch. Both run on one thread: CPU time, interleaved, medians (CPU time is what
other jobs on a busy machine barely move).

diagnostics: one training epoch of the README's MNIST CNN (Conv-BN-ReLU-Pool x2, Linear-ReLU-
Dropout-Linear, Adam, batch 64) on the first --samples MNIST images, with and without
fastnn.train.Diagnostics(), alternating (plain, diagnostics, plain, ...) for --rounds rounds;
reports the median epoch times and the overhead. MNIST from $FASTNN_DATA or ../shared/data;
random images of MNIST's shape when absent (the timing does not depend on the values).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from fastnn.data import augment  # noqa: E402
from timing import table  # noqa: E402


def _mnist(n):
    for folder in (os.environ.get("FASTNN_DATA"), os.path.join(os.path.dirname(__file__), "..",
                                                               "..", "shared", "data"),
                   "/work/shared/data"):
        if folder and os.path.exists(os.path.join(folder, "mnist.npz")):
            with np.load(os.path.join(folder, "mnist.npz")) as f:
                return f["x_train"][:n], f["y_train"][:n].astype(np.int64), "MNIST"
    r = np.random.default_rng(0)
    return (r.integers(0, 256, (n, 28, 28), dtype=np.uint8), r.integers(0, 10, n),
            "random images of MNIST's shape")


def rotate(args):
    import scipy.ndimage as ndi
    x, _, src = _mnist(args.batch)
    rows = []
    for dtype in (np.uint8, np.float32):
        xb = x[:, None].astype(dtype)
        if dtype == np.float32:
            xb /= 255.0
        rng = np.random.default_rng(0)
        ours = lambda: augment.random_rotate(xb, 15, rng=rng)  # noqa: E731
        ours_one = lambda: augment.rotate(xb, 15.0)  # noqa: E731
        angles = rng.uniform(-15, 15, len(xb))

        def scipy_each():
            for img, a in zip(xb, angles):
                ndi.rotate(img[0], a, reshape=False, order=1, mode="constant")

        def scipy_batch():
            ndi.rotate(xb, 15.0, axes=(2, 3), reshape=False, order=1, mode="constant")

        t_ours, t_each = _cpu_pair(ours, scipy_each, rounds=args.rounds, n=5)
        t_one, t_batch = _cpu_pair(ours_one, scipy_batch, rounds=args.rounds, n=5)
        rows.append([np.dtype(dtype).name, f"{t_ours * 1e3:.3f}", f"{t_each * 1e3:.3f}",
                     f"{t_each / t_ours:.1f}x", f"{t_one * 1e3:.3f}", f"{t_batch * 1e3:.3f}",
                     f"{t_batch / t_one:.1f}x"])
    print(f"rotation of a batch of {args.batch} 28x28 images ({src}), CPU ms per batch:")
    print(table(["dtype", "random_rotate", "scipy per image", "speed-up", "rotate(b, 15)",
                 "scipy whole batch", "speed-up"], rows))
    print("(per-sample angles: random_rotate vs scipy image by image; one angle for the batch: "
          "rotate(batch, 15) vs one scipy call on the batch)")


def _cpu_pair(fa, fb, rounds, n=20):
    """CPU seconds per call of fa and fb, timed alternately; medians over the rounds."""
    ta, tb = [], []
    for _ in range(rounds):
        for f, out in ((fa, ta), (fb, tb)):
            c0 = time.process_time()
            for _ in range(n):
                f()
            out.append((time.process_time() - c0) / n)
    return statistics.median(ta), statistics.median(tb)


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def diagnostics(args):
    if args.threads:
        fastnn.set_num_threads(args.threads)
    x, y, src = _mnist(args.samples)
    x = x[:, None].astype(np.float32) / 255.0
    fastnn.manual_seed(0)
    model = _cnn()
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def epoch(cb):
        t0, c0 = time.perf_counter(), time.process_time()
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=64, epochs=1, verbose=0,
                   callbacks=cb, seed=0)
        return time.perf_counter() - t0, time.process_time() - c0

    epoch([])  # warm-up
    plain, diag = [], []
    for _ in range(args.rounds):
        plain.append(epoch([]))
        diag.append(epoch([fastnn.train.Diagnostics(warn=False)]))
    threads = fastnn.get_num_threads()
    print(f"MNIST CNN, one epoch of {len(x)} samples ({src}), {threads} "
          f"thread{'s' if threads > 1 else ''}, {args.rounds} alternating rounds; wall and CPU "
          f"seconds (CPU time is what a busy machine barely moves; on one thread it is the "
          f"figure to read):")
    rows = []
    for k, name in ((0, "wall"), (1, "CPU")):
        p = statistics.median(t[k] for t in plain)
        d = statistics.median(t[k] for t in diag)
        # the median of the per-round ratios: a round's pair ran back to back, so load that
        # drifts between rounds cancels
        r = statistics.median(b[k] / a[k] for a, b in zip(plain, diag))
        rows.append([name, f"{p:.3f}", f"{d:.3f}", f"{100 * (d / p - 1):+.1f}%",
                     f"{100 * (r - 1):+.1f}%",
                     " ".join(f"{a[k]:.2f}/{b[k]:.2f}" for a, b in zip(plain, diag))])
    print(table(["time", "plain s", "Diagnostics s", "medians' ratio", "median pair ratio",
                 "rounds (plain/diag)"], rows))
    # The kernels' share alone, robust to load: each activation of the CNN with and without its
    # statistics, interleaved, in CPU time, against the CPU time of one training step.
    from fastnn import _C
    steps = (len(x) + 63) // 64
    step_s = statistics.median(t[1] for t in plain) / steps
    extra, krows = 0.0, []
    for shape in ((64, 32, 28, 28), (64, 64, 14, 14), (64, 128)):
        a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        acc = np.zeros(3 + shape[1])
        if len(shape) == 2:  # Linear + ReLU run fused: the statistics are a pass of their own
            f0, f1 = (lambda: None), (lambda: _C.act_stats(a, acc))
        else:
            f0 = lambda: _C.unary_forward(a, _C.Unary.relu, 0.0, "ReLU")  # noqa: E731
            f1 = lambda: _C.unary_forward(a, _C.Unary.relu, 0.0, "ReLU", acc)  # noqa: E731
        t0, t1 = _cpu_pair(f0, f1, rounds=max(args.rounds, 5))
        extra += t1 - t0
        krows.append([str(shape), f"{t0 * 1e3:.3f}", f"{t1 * 1e3:.3f}", f"{(t1 - t0) * 1e3:+.3f}"])
    print(f"\nReLU forward with and without statistics (CPU ms, one thread):")
    print(table(["activation", "plain", "with statistics", "extra"], krows))
    print(f"statistics per step: {extra * 1e3:.3f} ms of a {step_s * 1e3:.1f} ms step "
          f"(CPU) = {100 * extra / step_s:.1f}%")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py practice")
    ap.add_argument("what", choices=["rotate", "diagnostics"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--samples", type=int, default=6400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    (rotate if args.what == "rotate" else diagnostics)(args)


if __name__ == "__main__":
    main()
