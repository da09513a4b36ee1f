"""Binary layers: BinaryLinear (eval, packed) against fastnn's float Linear of the same shape,
timed alternately in one run (medians and best rounds); ratio = float time / binary time.

    python bench/compare.py binary [--batch 64] [--features 4096] [--rounds 7] [--conv-batch 1]

Also: TernaryLinear (eval: two bit-planes, additions only) against the float Linear, and
BinaryConv2d 3x3 64->64 at 56x56 (eval; binary inputs: im2col of the sign bits + XNOR/popcount)
against the float Conv2d of the same shape.

FLOPs: float Linear 2*B*K*N; binary with binary_inputs: B*N*K/64 xor+popcount word ops (64x fewer
operations and 32x fewer weight bytes), so the ceiling is ~32x against an FMA-bound float GEMM.
"""
import argparse
import statistics

import numpy as np
from timing import time_pair

from fastnn import _C, nn


def rounds_of(fa, fb, rounds, min_time=0.1):
    """Alternating rounds (A B A B ...): per-round seconds per call of each."""
    pairs = [time_pair(fa, fb, rounds=1, min_time=min_time) for _ in range(rounds)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--features", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--conv-batch", type=int, default=1)
    a = p.parse_args(argv)
    B, K = a.batch, a.features
    x = np.random.default_rng(0).standard_normal((B, K)).astype(np.float32)
    fl = nn.Linear(K, K).eval()
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}  isa={_C.active_isa()} "
          f"popcount kernel={_C.binary_kernel()}")
    print(f"{'layer':40s} {'median ms':>10s} {'best ms':>9s} {'ratio med':>9s} {'ratio best':>10s}")
    for binary_inputs in (True, False):
        bl = nn.BinaryLinear(K, K, binary_inputs=binary_inputs).eval()
        bl(x)
        tf, tb = rounds_of(lambda: fl(x), lambda: bl(x), a.rounds)
        name = f"BinaryLinear({K},{K},binary_inputs={binary_inputs}) B={B}"
        print(f"{'Linear float (same run)':40s} {1e3 * statistics.median(tf):10.3f} "
              f"{1e3 * min(tf):9.3f}")
        print(f"{name:40s} {1e3 * statistics.median(tb):10.3f} {1e3 * min(tb):9.3f} "
              f"{statistics.median(tf) / statistics.median(tb):9.2f} {min(tf) / min(tb):10.2f}")
    tl = nn.TernaryLinear(K, K).eval()
    tl(x)
    tf, tb = rounds_of(lambda: fl(x), lambda: tl(x), a.rounds)
    row(f"TernaryLinear({K},{K}) B={B}", tf, tb)
    x1 = x[:1].copy()  # batch 1: the float GEMV reads 64 MB of weights, the planes 2-4 MB
    bl = nn.BinaryLinear(K, K).eval()
    for name, layer in ((f"BinaryLinear({K},{K}) float in, B=1", bl),
                        (f"TernaryLinear({K},{K}) B=1", tl)):
        layer(x1)
        tf, tb = rounds_of(lambda: fl(x1), lambda: layer(x1), a.rounds)
        row(name, tf, tb)
    xc = np.random.default_rng(1).standard_normal((a.conv_batch, 64, 56, 56)).astype(np.float32)
    fc = nn.Conv2d(64, 64, 3, padding=1).eval()
    for binary_inputs in (True, False):
        bc = nn.BinaryConv2d(64, 64, 3, padding=1, binary_inputs=binary_inputs).eval()
        bc(xc)
        tf, tb = rounds_of(lambda: fc(xc), lambda: bc(xc), a.rounds)
        row(f"BinaryConv2d 3x3 64->64 56x56 B={a.conv_batch} bin_in={binary_inputs}", tf, tb,
            "Conv2d float (same run)")
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
    return 0


def row(name, tf, tb, ref="Linear float (same run)"):
    print(f"{ref:40s} {1e3 * statistics.median(tf):10.3f} {1e3 * min(tf):9.3f}")
    print(f"{name:40s} {1e3 * statistics.median(tb):10.3f} {1e3 * min(tb):9.3f} "
          f"{statistics.median(tf) / statistics.median(tb):9.2f} {min(tf) / min(tb):10.2f}")
