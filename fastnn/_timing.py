"""Speed figures that the next run will not contradict (used by ``python -m fastnn demo``).

Two callables are timed alternately, round after round, and every round yields one ratio. A slow
spell on a shared machine falls on both sides of a round, so the ratio holds where the absolute
times do not; the median over rounds is the figure to report, the best round its ceiling.
Absolute speeds still depend on what else runs: ``load_note`` says when that was a lot.
"""
import math
import numbers
import os
import statistics
import time
from collections import namedtuple

__all__ = ["SpeedRatio", "compare_speed", "load_note"]

SpeedRatio = namedtuple("SpeedRatio", "median best worst rounds seconds_base seconds_other")
SpeedRatio.__doc__ = """How many times faster ``other`` ran than ``base``: the median, best and
worst of the per-round ratios (base time / other time), the number of rounds, and the median
seconds per call of each."""


def _ratio(t_base, t_other):
    if t_other > 0:
        return t_base / t_other
    return math.inf if t_base > 0 else 1.0


def compare_speed(base, other, *, rounds=7, min_time=0.0, clock=time.perf_counter):
    """Time ``base()`` and ``other()`` alternately for ``rounds`` rounds; returns a SpeedRatio.

    Each round times one sample of each; the order flips every round, so neither side always runs
    right after the other (warm caches, turbo state). One untimed call of each comes first, timed
    to size the samples: a sample repeats a call until it lasts about ``min_time`` seconds, so a
    fast call is not at the mercy of one scheduler hiccup. ``clock`` is any monotonic seconds
    counter (a seam for tests).
    """
    if not callable(base) or not callable(other):
        raise TypeError("compare_speed: base and other must be callables taking no arguments")
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
        raise ValueError(f"compare_speed: rounds: expected an int >= 1, got {rounds!r}")
    if not isinstance(min_time, numbers.Real) or not 0 <= min_time < math.inf:
        raise ValueError(f"compare_speed: min_time: expected seconds >= 0, got {min_time!r}")
    sides = []
    for fn in (base, other):  # warm-up, and how many calls make one sample
        t0 = clock()
        fn()
        t = clock() - t0
        calls = 1 if t >= min_time else min(math.ceil(min_time / max(t, 1e-9) - 1e-6), 10**6)
        sides.append((fn, calls, []))
    ratios = []
    for r in range(rounds):
        for fn, calls, per_call in (sides if r % 2 == 0 else sides[::-1]):
            t0 = clock()
            for _ in range(calls):
                fn()
            per_call.append((clock() - t0) / calls)
        ratios.append(_ratio(sides[0][2][-1], sides[1][2][-1]))
    return SpeedRatio(median=statistics.median(ratios), best=max(ratios), worst=min(ratios),
                      rounds=rounds, seconds_base=statistics.median(sides[0][2]),
                      seconds_other=statistics.median(sides[1][2]))


def load_note(threads, *, loadavg=None, ncpu=None):
    """A sentence to print beside speed figures when other processes competed for the CPU, else
    None. Our own busy threads count in the 1-minute load average, so the rest of it is other
    work; it competed when it exceeds the cores our ``threads`` leave free. ``loadavg`` and
    ``ncpu`` default to ``os.getloadavg()[0]`` and ``os.cpu_count()`` (None where the platform
    has no load average)."""
    if loadavg is None:
        try:
            loadavg = os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows; or unobtainable
            return None
    ncpu = ncpu or os.cpu_count() or 1
    others = loadavg - threads
    spare = max(ncpu - threads, 0)
    if others <= spare + 0.25:
        return None
    return (f"load average {loadavg:.1f} on {ncpu} CPU{'s' if ncpu != 1 else ''} with "
            f"{threads} thread{'s' if threads != 1 else ''} of ours: other processes compete "
            f"for the CPU, so absolute speeds are low and vary from run to run")
