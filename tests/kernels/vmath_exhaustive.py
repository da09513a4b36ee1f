"""Worst error of _C.vmath over every float32 in each function's range (test_vmath.RANGE), the
measurement behind test_vmath's bounds. Not a test (minutes per function); run from the repo root:

    python -m tests.kernels.vmath_exhaustive [ISA [FN ...]]      # default: every ISA and function

It prints, per ISA and function, the worst ulp error where the exact result is a normal float32
and the worst |error| / 2^-149 where it is subnormal, each with the input that gives it."""
import sys
import time

import numpy as np

import fastnn
from fastnn import _C
from tests.kernels.test_vmath import FNS, RANGE, errors, reference

F32 = np.float32
CHUNK = 1 << 21


def bit_blocks(lo, hi):
    """[start, stop) ranges of uint32 patterns covering every float32 in [lo, hi] (lo <= 0 <= hi
    or both of one sign)."""
    def bits(v):
        return int(np.array(v, F32).view(np.uint32))
    blocks = []
    if lo < 0:  # negative floats: patterns grow with the magnitude, from -0.0 (or -hi) to lo
        blocks.append((bits(-0.0) if hi >= 0 else bits(hi), bits(lo) + 1))
    if hi >= 0:
        blocks.append((bits(max(lo, 0.0)), bits(hi) + 1))
    return blocks


def worst(fn):
    """((ulps, x) over normal results, (units of 2^-149, x) over subnormal results, count)."""
    normal, sub, count = (0.0, None), (0.0, None), 0
    for start, stop in bit_blocks(*RANGE[fn]):
        for a in range(start, stop, CHUNK):
            x = np.arange(a, min(a + CHUNK, stop), dtype=np.uint32).view(F32)
            got = _C.vmath(x, fn)
            with np.errstate(over="ignore", invalid="ignore"):
                err_n, err_s = errors(fn, x, got)
            if not np.isfinite(err_n).all():  # exp beyond FLT_MAX: inf is right where it rounds so
                with np.errstate(over="ignore"):
                    want32 = reference(fn, x).astype(F32)
                bad = np.isinf(got) != np.isinf(want32)
                assert not bad.any(), (fn, x[bad][:5], got[bad][:5])
                err_n = np.where(np.isinf(want32), 0.0, err_n)
            i, j = int(np.argmax(err_n)), int(np.argmax(err_s))
            if err_n[i] > normal[0]:
                normal = (float(err_n[i]), float(x[i]))
            if err_s[j] > sub[0]:
                sub = (float(err_s[j]), float(x[j]))
            count += x.size
    return normal, sub, count


def main(argv):
    isas = [argv[0]] if argv else list(_C.build_info()["isa_supported"])
    fns = argv[1:] or list(FNS)
    for isa in isas:
        fastnn.set_isa(isa)
        for fn in fns:
            t0 = time.time()
            (en, xn), (es, xs), count = worst(fn)
            print(f"{isa:8s}{fn:14s}normal {en:.4f} at {xn!r:24s}subnormal {es:.4f} at {xs!r:22s}"
                  f"({count} inputs, {time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
