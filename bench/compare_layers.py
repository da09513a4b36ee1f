"""Per-layer forward and forward+backward time, fastnn against PyTorch CPU, on the shapes of the
MNIST CNN (batch 64) and on ImageNet-network conv shapes (batch 8: ResNet's 3x3 64->64 and 1x1
256->64 at 56x56, MobileNet-style depthwise 3x3 at stride 1 and 2), same inputs, same thread
count, interleaved A/B timing.

    python bench/compare.py layers [--threads 1,2] [--rounds 7] [--min-time 0.1] [--only NAME,...]
                                   [--clock wall|cpu]

Times: ms per call, the median and the best of the rounds; ratio = PyTorch time / fastnn time
(> 1: fastnn is faster), from the medians and from the bests; the load average before and after
each thread count's table. A layer's name ends in its batch when that is not 64; the depthwise
rows are Conv2d(c, c, 3, groups=c). Both sides compute the input gradient (the torch input has
requires_grad=True) and accumulate parameter gradients. --clock cpu times 1-thread runs by the
calling thread's CPU time, which other jobs on a shared machine disturb far less than wall time
(it is refused for more threads, where CPU time is not elapsed time).
"""
import argparse
import gc
import os
import statistics
import sys
import time

# Neither side uses numpy's BLAS; its idle worker threads would only compete for the cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastnn  # noqa: E402
from fastnn import nn  # noqa: E402
from timing import table, time_interleaved  # noqa: E402

BATCH = 64
BATCH_NET = 8  # the ImageNet-network shapes: 56x56 maps are 12x the MNIST ones


def cases():
    """(name, fastnn layer factory, torch layer factory, input shape)."""
    out = [
        ("conv 1->32 3x3 p1 28x28", lambda: nn.Conv2d(1, 32, 3, padding=1),
         lambda t: t.nn.Conv2d(1, 32, 3, padding=1), (BATCH, 1, 28, 28)),
        ("conv 32->64 3x3 p1 14x14", lambda: nn.Conv2d(32, 64, 3, padding=1),
         lambda t: t.nn.Conv2d(32, 64, 3, padding=1), (BATCH, 32, 14, 14)),
        ("conv 1x1 64->128 14x14", lambda: nn.Conv2d(64, 128, 1),
         lambda t: t.nn.Conv2d(64, 128, 1), (BATCH, 64, 14, 14)),
        # ResNet-50's stage-1 shapes and MobileNet-style depthwise layers (issue 19)
        (f"conv 64->64 3x3 p1 56x56 b{BATCH_NET}", lambda: nn.Conv2d(64, 64, 3, padding=1),
         lambda t: t.nn.Conv2d(64, 64, 3, padding=1), (BATCH_NET, 64, 56, 56)),
        (f"conv 1x1 256->64 56x56 b{BATCH_NET}", lambda: nn.Conv2d(256, 64, 1),
         lambda t: t.nn.Conv2d(256, 64, 1), (BATCH_NET, 256, 56, 56)),
        (f"dwconv 3x3 s1 64ch 56x56 b{BATCH_NET}",
         lambda: nn.Conv2d(64, 64, 3, padding=1, groups=64),
         lambda t: t.nn.Conv2d(64, 64, 3, padding=1, groups=64), (BATCH_NET, 64, 56, 56)),
        (f"dwconv 3x3 s2 128ch 56->28 b{BATCH_NET}",
         lambda: nn.Conv2d(128, 128, 3, stride=2, padding=1, groups=128),
         lambda t: t.nn.Conv2d(128, 128, 3, stride=2, padding=1, groups=128),
         (BATCH_NET, 128, 56, 56)),
        (f"dwconv 3x3 s1 128ch 28x28 b{BATCH_NET}",
         lambda: nn.Conv2d(128, 128, 3, padding=1, groups=128),
         lambda t: t.nn.Conv2d(128, 128, 3, padding=1, groups=128), (BATCH_NET, 128, 28, 28)),
        ("maxpool 2 32x28x28", lambda: nn.MaxPool2d(2), lambda t: t.nn.MaxPool2d(2),
         (BATCH, 32, 28, 28)),
        ("maxpool 2 64x14x14", lambda: nn.MaxPool2d(2), lambda t: t.nn.MaxPool2d(2),
         (BATCH, 64, 14, 14)),
        ("batchnorm 32 28x28", lambda: nn.BatchNorm2d(32), lambda t: t.nn.BatchNorm2d(32),
         (BATCH, 32, 28, 28)),
        ("batchnorm 64 14x14", lambda: nn.BatchNorm2d(64), lambda t: t.nn.BatchNorm2d(64),
         (BATCH, 64, 14, 14)),
    ]
    if hasattr(nn, "Linear"):  # provided by the dense-layers work; compared when present
        out += [
            ("linear 3136->128", lambda: nn.Linear(3136, 128), lambda t: t.nn.Linear(3136, 128),
             (BATCH, 3136)),
            ("linear 128->10", lambda: nn.Linear(128, 10), lambda t: t.nn.Linear(128, 10),
             (BATCH, 128)),
        ]
    out += [  # a transformer-sized LayerNorm: 64 x 32 rows of 512
        ("layernorm 512 (64x32 rows)", lambda: nn.LayerNorm(512), lambda t: t.nn.LayerNorm(512),
         (BATCH, 32, 512)),
    ]
    return out


def copy_params(ours, theirs, torch):
    """Give the torch layer fastnn's parameter values (same inputs, same arithmetic)."""
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.data))


def cpu_pair(fa, fb, *, rounds, min_time):
    """Like timing.time_interleaved on two functions (A B A B ...; medians and bests) but by the
    calling thread's CPU time (both sides compute on the calling thread when run with one
    thread)."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(rounds):
        for f, out in ((fa, ta), (fb, tb)):
            n, t0 = 0, time.thread_time()
            while True:
                f()
                n += 1
                dt = time.thread_time() - t0
                if dt >= min_time:
                    break
            out.append(dt / n)
    return [statistics.median(ta), statistics.median(tb)], [min(ta), min(tb)]


def wall_pair(fa, fb, *, rounds, min_time):
    """(medians, bests) of the two functions' wall times, timed alternately (A B A B ...)."""
    return time_interleaved([fa, fb], rounds=rounds, min_time=min_time)


def _mb(med, best, scale=1e3, digits=3):
    return f"{med * scale:.{digits}f}/{best * scale:.{digits}f}"


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run(threads, rounds, min_time, only, clock="wall"):
    import torch

    fastnn.set_num_threads(threads)
    torch.set_num_threads(fastnn.get_num_threads())
    rng = np.random.default_rng(0)
    rows = []
    load0 = _load()
    for name, make_ours, make_theirs, shape in cases():
        if only and not any(o in name for o in only):
            continue
        ours, theirs = make_ours(), make_theirs(torch)
        copy_params(ours, theirs, torch)
        x = rng.standard_normal(shape).astype(np.float32)
        gy = rng.standard_normal(ours(x).shape).astype(np.float32)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        gyt = torch.from_numpy(gy.copy())

        def f_fwd():
            ours(x)

        def t_fwd():
            with torch.no_grad():
                theirs(xt)

        def f_step():
            ours(x)
            ours.backward(gy)

        def t_step():
            theirs(xt).backward(gyt)

        pair = cpu_pair if clock == "cpu" else wall_pair
        # As timeit does: no cyclic garbage collection inside the timed loops (torch's many
        # objects make each collection long, and it lands on whichever side is running).
        gc.collect()
        gc.disable()
        try:
            (tf, tt), (bf, bt) = pair(f_fwd, t_fwd, rounds=rounds, min_time=min_time)
            (sf, st), (bsf, bst) = pair(f_step, t_step, rounds=rounds, min_time=min_time)
        finally:
            gc.enable()
        rows.append([name, _mb(tf, bf), _mb(tt, bt), _mb(tt / tf, bt / bf, 1, 2),
                     _mb(sf, bsf), _mb(st, bst), _mb(st / sf, bst / bsf, 1, 2)])
    print(f"\nthreads = {threads} (fastnn {fastnn.get_isa()}, torch {torch.__version__}), "
          f"batch {BATCH} (or as named), {clock} clock, {rounds} rounds, load average "
          f"{load0:.2f} -> {_load():.2f}")
    print("times: ms per call, median/best round; ratio = torch / fastnn (> 1: fastnn faster), "
          "from the medians/the bests")
    print(table(["layer", "fwd fastnn", "fwd torch", "ratio", "fwd+bwd fastnn",
                 "fwd+bwd torch", "ratio"], rows))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py layers", description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.1)
    ap.add_argument("--only", default="", help="comma-separated substrings of layer names")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed (pip install fastnn[bench]); nothing to compare against")
        return 1
    only = [s for s in args.only.split(",") if s]
    for t in (int(s) for s in args.threads.split(",") if s):
        if args.clock == "cpu" and t != 1:
            print(f"threads = {t}: skipped (--clock cpu measures 1-thread runs only)")
            continue
        run(t, args.rounds, args.min_time, only, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
