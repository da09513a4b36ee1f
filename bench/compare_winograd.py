"""Winograd convolution: fastnn's conv algorithms side by side, against PyTorch (oneDNN), on 3x3
stride-1 layers, and the demo CNN's training step and inference with "auto" against the direct
kernel (what "auto" picked for those layers before Winograd existed).

    python bench/compare.py winograd [--threads 2] [--rounds 3] [--min-time 0.2] [--quick]

Each library runs in its own process per round (fastnn, then PyTorch, then the next round), so
one library's idle OpenMP threads never spin on the cores the other is timing (both run with
GOMP_SPINCOUNT=10000, the policy fastnn sets for itself); ratios are taken
round by round and reported as the median and the range over rounds, with the load average. Times are
milliseconds per call (forward: inference, no gradient; fwd+bwd: forward, then the input and
weight gradients). FLOP counts are the direct convolution's 2*N*K*C*9*OH*OW.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from timing import table, time_fn  # noqa: E402

ALGOS = ["direct", "im2col", "winograd", "winograd_f2", "auto"]
# (name, n, c, k, h, w): the layer, the demo CNN's convolutions at its training (64) and
# inference (256) batches, and a few typical shapes either side of the auto rule.
LAYERS = [
    ("64->64 56x56 b4", 4, 64, 64, 56, 56),
    ("demo 1->32 28x28 b64", 64, 1, 32, 28, 28),
    ("demo 32->64 14x14 b64", 64, 32, 64, 14, 14),
    ("demo 32->64 14x14 b256", 256, 32, 64, 14, 14),
    ("64->64 56x56 b1", 1, 64, 64, 56, 56),
    ("128->128 28x28 b8", 8, 128, 128, 28, 28),
    ("256->256 14x14 b8", 8, 256, 256, 14, 14),
    ("512->512 7x7 b8", 8, 512, 512, 7, 7),
    ("16->16 32x32 b16", 16, 16, 16, 32, 32),
    ("3->32 32x32 b32", 32, 3, 32, 32, 32),
]
QUICK = LAYERS[:3]


# -- workers (one process each) --------------------------------------------------------------------
def _inputs(n, c, k, h, w):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    gy = rng.standard_normal((n, k, h, w)).astype(np.float32)
    return x, wt, gy


def worker_fastnn(layers, min_time):
    import numpy as np
    import fastnn
    from fastnn import _C, nn, ops
    out = {}
    for name, n, c, k, h, w in layers:
        x, wt, gy = _inputs(n, c, k, h, w)
        row = {"auto_is": ops.conv2d_algorithm(x.shape, wt.shape, padding=1)}
        for algo in ALGOS:
            def fwd(a=algo):
                _C.conv2d_forward(x, wt, None, (1, 1), (1, 1), (1, 1), 1, a)
            dw = np.zeros_like(wt)

            def step(a=algo):
                _C.conv2d_forward(x, wt, None, (1, 1), (1, 1), (1, 1), 1, a)
                _C.conv2d_backward(x, gy, wt, (1, 1), (1, 1), (1, 1), 1, True, dw, None, a)
            row[algo] = (time_fn(fwd, min_time=min_time, repeats=3),
                         time_fn(step, min_time=min_time, repeats=3))
        out[name] = row
    # The demo CNN (fastnn/__main__.py): a training step at batch 64 and inference at batch 256,
    # with every conv on "auto" and on "direct" (auto's pick for both before Winograd).
    from fastnn.__main__ import _build_cnn
    rng = np.random.default_rng(1)
    xs = {b: rng.standard_normal((b, 1, 28, 28)).astype(np.float32) for b in (64, 256)}
    ys = rng.integers(0, 10, 64)
    for algo in ("auto", "direct"):
        fastnn.manual_seed(0)
        model = _build_cnn(28)
        for layer in model:
            if isinstance(layer, nn.Conv2d):
                layer.algorithm = algo
        loss_fn = nn.CrossEntropyLoss()
        opt = fastnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step():
            model.train()
            opt.zero_grad()
            loss_fn(model(xs[64]), ys)
            model.backward(loss_fn.backward())
            opt.step()

        def infer():
            model.eval()
            model(xs[256])
        out[f"cnn train b64 {algo}"] = time_fn(train_step, min_time=min_time, repeats=3)
        out[f"cnn infer b256 {algo}"] = time_fn(infer, min_time=min_time, repeats=3)
    return out


def worker_torch(layers, min_time):
    import torch
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    out = {}
    for name, n, c, k, h, w in layers:
        x, wt, gy = (torch.from_numpy(a) for a in _inputs(n, c, k, h, w))

        def fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(x, wt, padding=1)
        xg, wg = x.clone().requires_grad_(True), wt.clone().requires_grad_(True)

        def step():
            xg.grad = wg.grad = None
            torch.nn.functional.conv2d(xg, wg, padding=1).backward(gy)
        out[name] = {"torch": (time_fn(fwd, min_time=min_time, repeats=3),
                               time_fn(step, min_time=min_time, repeats=3))}
    return out


def run_worker(lib, layers, threads, min_time):
    env = dict(os.environ, BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if lib == "torch":
        # fastnn's own libgomp policy (fastnn/_threads.py) for torch too: with libgomp's default
        # long spin, torch's 3x3 convs ran 1.8x slower here under a load of 2 (47 vs 28 ms).
        env.setdefault("GOMP_SPINCOUNT", "10000")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--min-time", str(min_time),
           "--layers", ",".join(name for name, *_ in layers)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{lib} worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _stats(values):
    """(median, lowest, highest) of per-round ratios."""
    return statistics.median(values), min(values), max(values)


def _fmt(r):
    return f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py winograd", description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--quick", action="store_true", help="three layers only")
    ap.add_argument("--worker", choices=["fastnn", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--layers", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    layers = QUICK if args.quick else LAYERS
    if args.worker:
        if args.layers:
            keep = set(args.layers.split(","))
            layers = [lay for lay in LAYERS if lay[0] in keep]
        fn = worker_fastnn if args.worker == "fastnn" else worker_torch
        print(json.dumps(fn(layers, args.min_time)))
        return 0
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("(PyTorch not installed: pip install fastnn[bench] for the torch column)")
    rounds, loads = [], []
    for r in range(args.rounds):
        loads.append(os.getloadavg()[0])
        f = run_worker("fastnn", layers, args.threads, args.min_time)
        t = run_worker("torch", layers, args.threads, args.min_time) if have_torch else {}
        rounds.append((f, t))
        print(f"round {r}: load {loads[-1]:.2f}", flush=True)
    import fastnn
    print(f"\nthreads = {args.threads}, fastnn ISA {fastnn.get_isa()}, rounds {args.rounds}, "
          f"load average {min(loads):.2f}-{max(loads):.2f}; ms per call (median of rounds), "
          f"ratios per round: median (lowest-highest)")
    for part, idx in (("forward", 0), ("forward + backward (dX and dW)", 1)):
        rows = []
        for name, n, c, k, h, w in layers:
            flops = 2 * n * k * c * 9 * h * w * (1 if idx == 0 else 3)
            med = {a: statistics.median(f[name][a][idx] for f, _ in rounds) for a in ALGOS}
            wd = _stats([f[name]["direct"][idx] / f[name]["winograd"][idx] for f, _ in rounds])
            wi = _stats([f[name]["im2col"][idx] / f[name]["winograd"][idx] for f, _ in rounds])
            row = [name, rounds[0][0][name]["auto_is"]]
            row += [f"{med[a] * 1e3:.2f}" for a in ALGOS]
            row += [f"{flops / med['auto'] / 1e9:.0f}", _fmt(wd), _fmt(wi)]
            if have_torch:
                tt = statistics.median(t[name]["torch"][idx] for _, t in rounds)
                ra = _stats([t[name]["torch"][idx] / f[name]["auto"][idx] for f, t in rounds])
                row += [f"{tt * 1e3:.2f}", _fmt(ra)]
            rows.append(row)
        heads = ["layer", "auto is"] + ALGOS + ["auto GF/s", "direct/wino", "im2col/wino"]
        if have_torch:
            heads += ["torch", "torch/auto"]
        print(f"\n{part}\n" + table(heads, rows))
    rows = []
    for what in ("cnn train b64", "cnn infer b256"):
        a = statistics.median(f[f"{what} auto"] for f, _ in rounds)
        d = statistics.median(f[f"{what} direct"] for f, _ in rounds)
        r = _stats([f[f"{what} direct"] / f[f"{what} auto"] for f, _ in rounds])
        rows.append([what, f"{d * 1e3:.2f}", f"{a * 1e3:.2f}", _fmt(r)])
    print("\ndemo CNN (fastnn/__main__.py), ms per call\n" +
          table(["", "direct convs", "auto convs", "direct/auto"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
