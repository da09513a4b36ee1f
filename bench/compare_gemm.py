"""fastnn.ops.matmul against numpy's BLAS, on the same inputs, in the same run.

    python bench/compare.py gemm [--threads 1,all] [--isa avx512|avx2|generic] [--quick]
                                 [--rounds N] [--min-time S] [--peak GFLOPS_PER_CORE] [--only TEXT]

For each thread count (fastnn.set_num_threads and numpy's BLAS threads via threadpoolctl) and each
shape, the two are timed alternately (A B A B ..., medians), so drifting load on this shared
machine hits both alike. Rows:
  bare    fastnn matmul vs np.matmul (transposes as views, as a layer would pass them)
  fused   fastnn matmul(bias=, activation="relu") vs np.matmul + in-place bias add + np.maximum
GFLOP/s counts 2*M*N*K; "% peak" is against cores x clock x FLOP/cycle measured by
bench/fma_peak.cpp (compiled here on the fly), for the ISA fastnn runs (numpy's percentage uses the
same peak: the ceiling of this machine, whatever BLAS kernel it picked).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the in-place build when run from a checkout
sys.path.insert(0, HERE)

import fastnn  # noqa: E402
from timing import table, time_fn  # noqa: E402

# (label, M, K, N, trans_a, trans_b): C[M,N] = op(A)[M,K] @ op(B)[K,N]
SHAPES = [
    ("square", 1024, 1024, 1024, False, False),
    ("square", 2048, 2048, 2048, False, False),
    ("mlp fwd X.W^T 784->512", 128, 784, 512, False, True),
    ("mlp dW=dY^T.X 784->512", 512, 128, 784, True, False),
    ("mlp dX=dY.W 784->512", 128, 512, 784, False, False),
    ("mlp fwd X.W^T 512->256", 128, 512, 256, False, True),
    ("mlp dW=dY^T.X 512->256", 256, 128, 512, True, False),
    ("mlp dX=dY.W 512->256", 128, 256, 512, False, False),
    ("mlp fwd X.W^T 256->10", 128, 256, 10, False, True),
    ("mlp dW=dY^T.X 256->10", 10, 128, 256, True, False),
    ("mlp dX=dY.W 256->10", 128, 10, 256, False, False),
    ("mlp plain X.W 784->512", 128, 784, 512, False, False),
    ("im2col conv 3x3 32->64", 12544, 288, 64, False, False),
]
# Shapes that also get a fused bias+ReLU row (the forward products of a layer).
FUSED = {"mlp fwd X.W^T 784->512", "mlp fwd X.W^T 512->256", "mlp fwd X.W^T 256->10",
         "mlp plain X.W 784->512", "im2col conv 3x3 32->64"}
QUICK = {"square", "mlp fwd X.W^T 784->512", "mlp dW=dY^T.X 784->512", "mlp dX=dY.W 784->512",
         "im2col conv 3x3 32->64"}


def measure_peak(isa):
    """(GFLOP/s per core under all-core load, clock GHz, FLOP/cycle, cores) from fma_peak.cpp."""
    cxx = os.environ.get("CXX", "g++").split()[-1]
    if not shutil.which(cxx):
        return None
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "fma_peak")
        r = subprocess.run([cxx, "-O2", "-fopenmp", "-mavx512f", os.path.join(HERE, "fma_peak.cpp"),
                            "-o", exe], capture_output=True)
        if r.returncode != 0:
            return None
        out = subprocess.run([exe], capture_output=True, text=True, timeout=120).stdout
    vals = dict(line.split() for line in out.splitlines() if line.strip())
    ghz = float(vals["threads_all_ghz"])
    fpc = {"avx512": float(vals["zmm_flop_per_cycle"]),
           "avx2": float(vals["ymm_flop_per_cycle"])}.get(isa, float(vals["ymm_flop_per_cycle"]))
    return ghz * fpc, ghz, fpc, int(vals["cores"])


def time_alternating(fa, fb, rounds, min_time, settle):
    """Seconds per call of fa and fb, timed alternately: (median a, median b, best a, best b).
    Before each block the process sleeps `settle` seconds so the other library's idle threads
    (OpenBLAS and OpenMP both spin for a while after a call) have gone to sleep and do not steal
    the cores being measured."""
    ta, tb = [], []
    for _ in range(rounds):
        for fn, acc in ((fa, ta), (fb, tb)):
            time.sleep(settle)
            acc.append(time_fn(fn, min_time=min_time, repeats=1, warmup=1))
    return statistics.median(ta), statistics.median(tb), min(ta), min(tb)


def make_case(rng, m, k, n, trans_a, trans_b, fused):
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    a_op = a.T if trans_a else a
    b_op = b.T if trans_b else b
    out_f = np.empty((m, n), np.float32)
    out_n = np.empty((m, n), np.float32)
    if fused:
        def f():
            fastnn.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, activation="relu",
                              out=out_f)

        def g():
            np.matmul(a_op, b_op, out=out_n)
            np.add(out_n, bias, out=out_n)
            np.maximum(out_n, 0.0, out=out_n)
    else:
        def f():
            fastnn.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, out=out_f)

        def g():
            np.matmul(a_op, b_op, out=out_n)
    # Same inputs, same answer (a benchmark of a wrong result is worthless).
    f()
    g()
    scale = np.sqrt(k) * np.abs(out_n).max() + 1.0
    assert np.max(np.abs(out_f - out_n)) <= 1e-5 * scale, "fastnn and numpy disagree"
    return f, g


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py gemm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,all", help="comma list of thread counts; 'all' = all cores")
    ap.add_argument("--isa", default=None, help="force fastnn's ISA path (avx512, avx2, generic)")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    ap.add_argument("--rounds", type=int, default=None, help="alternations per row (default 7, quick 3)")
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per timed block")
    ap.add_argument("--settle", type=float, default=0.12, help="sleep before each timed block (s)")
    ap.add_argument("--peak", type=float, default=None,
                    help="peak GFLOP/s per core to use instead of measuring it")
    ap.add_argument("--only", default=None, help="only shapes whose label contains this text")
    args = ap.parse_args(argv)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # numpy's BLAS then runs with its default threads
        threadpool_limits = None
        print("warning: threadpoolctl missing; numpy's BLAS thread count is not controlled")

    if args.isa:
        fastnn.set_isa(args.isa)
    isa = fastnn.get_isa()
    ncores = os.cpu_count() or 1
    threads = [ncores if t.strip() == "all" else int(t) for t in args.threads.split(",")]
    rounds = args.rounds or (3 if args.quick else 7)

    if args.peak:
        peak_core, peak_txt = args.peak, f"peak {args.peak:.1f} GFLOP/s per core (given)"
    else:
        pk = measure_peak(isa)
        if pk:
            peak_core = pk[0]
            peak_txt = (f"peak {pk[0]:.1f} GFLOP/s per core = {pk[1]:.2f} GHz (all cores busy) x "
                        f"{pk[2]:.1f} FLOP/cycle ({isa}); {pk[3]} cores -> {pk[0] * pk[3]:.0f}")
        else:
            peak_core, peak_txt = None, "peak unknown (fma_peak.cpp did not build); pass --peak"

    info = {}
    if threadpool_limits is not None:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info = blas[0]
    print(f"fastnn {fastnn.__version__}, ISA {isa}; numpy {np.__version__} BLAS "
          f"{info.get('internal_api', '?')} {info.get('version', '')} kernel {info.get('architecture', '?')}")
    print(peak_txt)
    if hasattr(os, "getloadavg"):
        print("load average at the start: %.2f %.2f %.2f on %d cores" % (*os.getloadavg(), ncores))

    shapes = [s for s in SHAPES if (not args.quick or s[0] in QUICK)
              and (not args.only or args.only in s[0])]
    rng = np.random.default_rng(0)
    cases = []
    for label, m, k, n, ta, tb in shapes:
        cases.append((label, m, k, n, ta, tb, False))
        if label in FUSED:
            cases.append((label, m, k, n, ta, tb, True))

    rows = []
    before = fastnn.get_num_threads()
    try:
        for nt in threads:
            fastnn.set_num_threads(nt)
            ctx = threadpool_limits(limits=nt, user_api="blas") if threadpool_limits else None
            try:
                for label, m, k, n, ta, tb, fused in cases:
                    f, g = make_case(rng, m, k, n, ta, tb, fused)
                    tf, tg, bf, bg = time_alternating(f, g, rounds, args.min_time, args.settle)
                    gf = 2.0 * m * n * k / 1e9
                    pct = (lambda t: f"{100 * gf / t / (peak_core * nt):.0f}%") if peak_core else (lambda t: "-")
                    op = ("A^T" if ta else "A") + ("B^T" if tb else "B")
                    rows.append([nt, label, f"{m}x{k}x{n}", op, "bias+relu" if fused else "bare",
                                 f"{gf / tf:.1f}", pct(tf), f"{gf / tg:.1f}", pct(tg), f"{tg / tf:.2f}",
                                 f"{bg / bf:.2f}"])
                    print("\t".join(str(x) for x in rows[-1]), file=sys.stderr, flush=True)
            finally:
                if ctx is not None:
                    ctx.restore_original_limits()
    finally:
        fastnn.set_num_threads(before)

    print(table(["thr", "shape", "MxKxN", "op", "epilogue", "fastnn GF/s", "%peak", "numpy GF/s",
                 "%peak", "ratio", "best"], rows))
    print("GF/s and ratio (numpy time / fastnn time, > 1: fastnn faster) from the medians of "
          f"{rounds} alternations of >= {args.min_time}s blocks; best: the same ratio from each "
          "side's fastest block (the least disturbed on a shared machine).")
    if hasattr(os, "getloadavg"):
        print("load average at the end: %.2f %.2f %.2f on %d cores" % (*os.getloadavg(), ncores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
