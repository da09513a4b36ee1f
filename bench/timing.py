"""Timing helpers shared by the compare_* suites: interleaved repeats, best-of-N and median."""
import statistics
import time


def time_fn(fn, *, min_time=0.2, repeats=5, warmup=1):
    """Seconds per call: the median over `repeats` rounds, each round running fn for >= min_time."""
    for _ in range(warmup):
        fn()
    rounds = []
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        rounds.append(dt / n)
    return statistics.median(rounds)


def time_pair(fa, fb, *, rounds=7, min_time=0.1):
    """Time two functions alternately (A B A B ...) so drifting machine load hits both alike.
    Returns (median seconds of A, median seconds of B)."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(time_fn(fa, min_time=min_time, repeats=1, warmup=0))
        tb.append(time_fn(fb, min_time=min_time, repeats=1, warmup=0))
    return statistics.median(ta), statistics.median(tb)


def table(headers, rows):
    """Plain fixed-width table as a string."""
    cols = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    fmt = "  ".join("{:>%d}" % w for w in widths)
    out = [fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*r) for r in cols[1:]]
    return "\n".join(out)


def time_interleaved(fns, rounds=5, min_time=0.2):
    """(medians, bests): seconds per call of each fn, timed in turn each round (A B C A B C ...)
    so load drift hits all alike. On a shared machine the best round estimates the unloaded
    speed; the median is the typical one."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, f in enumerate(fns):
            times[i].append(time_fn(f, min_time=min_time, repeats=1, warmup=0))
    return [statistics.median(t) for t in times], [min(t) for t in times]
