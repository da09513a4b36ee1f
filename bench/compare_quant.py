"""int8 quantization benchmarks, side by side in one run.

    python bench/compare.py quant [SECTION ...] [--threads 1,2] [--quick] [--no-peak] [--clock cpu]

Sections (default: all):
  gemm   the int8 GEMM (u8 x s8 -> s32, VNNI where the CPU has it, AMX tiles where it has them:
         then also the VNNI kernel alone on the same call) against fastnn's float32 GEMM on
         the same values: 1024^3 and the MNIST MLP / CNN shapes, each as a Linear layer computes it
         (a @ w.T + bias, ReLU): int8 with float32 output (dequantised) and with uint8 output
         (requantised), float32 through fastnn.ops.matmul. Rates are int8 GOP/s versus f32 GFLOP/s
         (2*m*n*k operations both), interleaved and repeated (bench/timing.py).
  models the quantized MNIST MLP and CNN (fastnn.quant.quantize) against fastnn float32,
         onnxruntime int8 (MLP) and PyTorch static int8 (CNN): accuracy, whole-model samples/s at
         batch 256, file sizes (bench/quant_models.py; skipped when MNIST is absent).

--peak (default on; --no-peak skips) compiles bench/peak_probe.cpp and measures the core clock and
the vpdpbusd / vfmadd throughput, to state the int8 and f32 peaks this machine really has.
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
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import fastnn  # noqa: E402
from fastnn import _C  # noqa: E402
from fastnn.quant import gemm_u8s8, pack_weights  # noqa: E402
from timing import table, time_fn  # noqa: E402

# (m, k, n): batch x in_features x out_features; 12544 x 288 x 64 is an im2col convolution
# (16 images of 28x28, 32 channels x 3x3 in, 64 out).
GEMM_SHAPES = [
    (1024, 1024, 1024, "square", 3.0),
    (128, 784, 512, "MLP fc1, batch 128", 2.5),
    (128, 512, 256, "MLP fc2, batch 128", 2.5),
    (256, 784, 512, "MLP fc1, batch 256", 2.5),
    (256, 512, 256, "MLP fc2, batch 256", 2.5),
    (12544, 288, 64, "CNN conv2 im2col", 2.5),
    (128, 256, 10, "MLP head (n=10)", None),
]
QUICK_SHAPES = [s for s in GEMM_SHAPES if s[0] * s[1] * s[2] <= 2**28][:3]


def _cpu_time_fn(fn, min_time):
    """Seconds per call on this thread's CPU clock: time the process spent preempted by other
    processes does not count (valid for one thread only: OpenMP workers are other threads)."""
    n, t0 = 0, time.thread_time()
    while True:
        fn()
        n += 1
        dt = time.thread_time() - t0
        if dt >= min_time:
            return dt / n


def time_group(fns, rounds=7, min_time=0.1, clock="wall"):
    """Median seconds per call of each function, timed in turn (A B C A B C ...)."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, f in enumerate(fns):
            times[i].append(_cpu_time_fn(f, min_time) if clock == "cpu" else
                            time_fn(f, min_time=min_time, repeats=1, warmup=0))
    return [statistics.median(t) for t in times]


def peak_probe():
    """Runs bench/peak_probe.cpp; returns its figures as a dict, or None where it cannot."""
    cxx = os.environ.get("CXX", "g++").split()[-1]
    if not shutil.which(cxx):
        return None
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "peak_probe")
        r = subprocess.run([cxx, "-O3", "-mavx512f", "-mavx512vnni", os.path.join(HERE, "peak_probe.cpp"),
                            "-o", exe], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        r = subprocess.run([exe], capture_output=True, text=True)
        if r.returncode != 0:  # e.g. SIGILL without AVX-512 VNNI
            return None
    return {k: float(v) for k, v in (line.split() for line in r.stdout.splitlines())}


def ops_of(m, n, k):
    return 2.0 * m * n * k


def bench_gemm(args):
    rng = np.random.default_rng(0)
    amx = _C.s8_gemm_info()["amx"]
    shapes = QUICK_SHAPES if args.quick else GEMM_SHAPES
    rows = []
    for nt in args.threads:
        fastnn.set_num_threads(nt)
        for m, k, n, what, target in shapes:
            a = rng.integers(0, 256, (m, k), dtype=np.uint8)
            w = rng.integers(-127, 128, (n, k), dtype=np.int8)
            packed = pack_weights(w)
            scale_b = rng.uniform(1e-3, 2e-3, n).astype(np.float32)
            bias = rng.standard_normal(n).astype(np.float32)
            af, wf = (a.astype(np.float32) - 128) * 0.02, w.astype(np.float32) * scale_b[:, None]
            out_f = np.empty((m, n), np.float32)
            out_f2 = np.empty((m, n), np.float32)
            out_u = np.empty((m, n), np.uint8)
            q = dict(za=128, scale_a=0.02, scale_b=scale_b, bias=bias, relu=True)

            def f32():
                fastnn.ops.matmul(af, wf, trans_b=True, bias=bias, activation="relu", out=out_f2)

            def i8_f32():
                gemm_u8s8(a, packed, out=out_f, **q)

            def i8_u8():
                gemm_u8s8(a, packed, out_dtype="uint8", scale_out=0.05, z_out=0, out=out_u, **q)

            def vnni_f32():  # the same call with the AMX tiles off (the VNNI micro-kernel)
                prev = _C.s8_gemm_set_amx("off")
                try:
                    gemm_u8s8(a, packed, out=out_f, **q)
                finally:
                    _C.s8_gemm_set_amx(prev)

            clock = "cpu" if args.clock == "cpu" and nt == 1 else "wall"
            fns = [f32, i8_f32, i8_u8] + ([vnni_f32] if amx else [])
            ts = time_group(fns, rounds=args.rounds, min_time=args.min_time, clock=clock)
            t32, t8f, t8u = ts[:3]
            amx_cols = [f"{ops_of(m, n, k) / ts[3] / 1e9:.1f}", f"{ts[3] / t8f:.2f}x"] if amx else []
            err = np.abs(out_f - out_f2).max() / max(np.abs(out_f2).max(), 1e-30)
            ops = 2.0 * m * n * k
            ratio = t32 / t8f
            ok = "" if target is None else ("met" if ratio >= target else "MISSED")
            rows.append([f"{m}x{k}x{n}", what, f"{nt} {clock}", f"{ops / t32 / 1e9:.1f}", f"{ops / t8f / 1e9:.1f}",
                         f"{ratio:.2f}x", f"{ops / t8u / 1e9:.1f}", f"{t32 / t8u:.2f}x",
                         "-" if target is None else f">={target}x {ok}", f"{err:.1e}"] + amx_cols)
    print(table(["m x k x n", "shape", "thr clock", "f32 GFLOP/s", "int8->f32 GOP/s", "ratio",
                 "int8->u8 GOP/s", "ratio", "target", "rel.diff"] +
                (["VNNI only GOP/s", "AMX gain"] if amx else []), rows))
    if amx:
        print("This CPU has AMX int8 tiles: the int8 columns use them (from 4 rows, the default); "
              "'VNNI only' is the same call with them off (_C.s8_gemm_set_amx('off')), 'AMX gain' "
              "its time over the default's.")
    print("ratio = fastnn f32 time / int8 time (int8 ops/s over f32 FLOP/s). rel.diff: max |int8 "
          "dequantised - f32 on the same values| / max |f32| (quantisation of nothing: the f32 "
          "inputs hold the int8 values, so it shows only float32 rounding).")


def bench_models(args):
    from quant_models import bench_models as run
    run(args, time_group, table)


SECTIONS = {"gemm": bench_gemm, "models": bench_models}


def main(argv=None):
    p = argparse.ArgumentParser(prog="compare.py quant", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="*", help="one or more of: " + ", ".join(SECTIONS))
    p.add_argument("--threads", default=None, help="comma list (default: 1 and all cores)")
    p.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--min-time", type=float, default=0.1)
    p.add_argument("--no-peak", dest="peak", action="store_false")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: time 1-thread runs on the thread's CPU clock, so that preemption on "
                        "a shared machine does not count (multi-thread runs stay on wall time)")
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $FASTNN_DATA, "
                   "../shared/data/mnist.npz)")
    p.add_argument("--models", default="mlp,cnn", help="models section: comma list of mlp, cnn")
    p.add_argument("--epochs", type=int, default=2, help="models section: training epochs")
    p.add_argument("--calib", type=int, default=4096, help="models section: calibration images")
    p.add_argument("--method", default="minmax", help="models section: calibration method")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    sections = args.sections or list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; available: {', '.join(SECTIONS)}")
    allc = os.cpu_count() or 1
    args.threads = ([int(t) for t in args.threads.split(",")] if args.threads
                    else sorted({1, min(allc, 2)} | ({allc} if allc <= 2 else set())))
    args.rounds = args.rounds or (3 if args.quick else 7)

    info = _C.s8_gemm_info()
    print(f"fastnn {fastnn.__version__}: ISA {fastnn.get_isa()}, int8 kernel '{info['kernel']}' "
          f"(VNNI: {'yes' if info['vnni'] else 'no'}), f32 tile {_C.gemm_tile()}, cores {allc}")
    if args.peak:
        pk = peak_probe()
        if pk:
            print(f"peak (measured, 1 core): clock {pk['clock_ghz']:.2f} GHz, vpdpbusd zmm "
                  f"{pk['vpdpbusd_zmm_per_cycle']:.2f}/cycle -> int8 {pk['int8_gops_per_core']:.0f} "
                  f"GOP/s; vfmadd zmm {pk['vfmadd_zmm_per_cycle']:.2f}/cycle -> f32 "
                  f"{pk['f32_gflops_per_core']:.0f} GFLOP/s; int8/f32 peak ratio "
                  f"{pk['int8_gops_per_core'] / pk['f32_gflops_per_core']:.2f}")
        else:
            print("peak probe unavailable (no compiler or no AVX-512 VNNI)")
    before = fastnn.get_num_threads()
    try:
        for s in sections:
            print(f"\n== {s}")
            SECTIONS[s](args)
    finally:
        fastnn.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
