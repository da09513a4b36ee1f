"""Binary layers: BinaryLinear (eval, packed) against fastnn's float Linear of the same shape,
timed alternately in one run (medians and best rounds); ratio = float time / binary time.

    python bench/compare.py binary [--batch 64] [--features 4096] [--rounds 7]

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
    return 0
