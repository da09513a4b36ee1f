"""fastnn._timing: interleaved speed ratios and the load-average note, on a fake clock (no test
here depends on how fast anything really runs)."""
import math

import pytest

from fastnn._timing import compare_speed, load_note


class FakeClock:
    """A clock that only moves when a fake workload says it took time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def workload(clock, log, name, durations):
    """A callable that 'takes' durations[i] seconds on its i-th call (the last one repeats)."""
    calls = []

    def fn():
        i = len(calls)
        calls.append(i)
        log.append(name)
        clock.now += durations[min(i, len(durations) - 1)]
    return fn


def test_ratio_of_steady_workloads():
    clock, log = FakeClock(), []
    r = compare_speed(workload(clock, log, "f", [2.0]), workload(clock, log, "q", [0.5]),
                      rounds=5, clock=clock)
    assert r.median == r.best == r.worst == 4.0
    assert r.rounds == 5
    assert r.seconds_base == 2.0 and r.seconds_other == 0.5


def test_calls_alternate_and_order_flips_each_round():
    clock, log = FakeClock(), []
    compare_speed(workload(clock, log, "f", [1.0]), workload(clock, log, "q", [1.0]),
                  rounds=4, clock=clock)
    # one warm-up call each, then rounds: f q | q f | f q | q f
    assert log == ["f", "q"] + ["f", "q", "q", "f", "f", "q", "q", "f"]


def test_busy_spell_on_both_sides_leaves_the_ratio():
    # round 3 (calls 4 of each, after the warm-up) runs 30x slower for both: same ratio
    clock, log = FakeClock(), []
    base = workload(clock, log, "f", [1.0, 1.0, 1.0, 30.0, 1.0, 1.0])
    other = workload(clock, log, "q", [0.25, 0.25, 0.25, 7.5, 0.25, 0.25])
    r = compare_speed(base, other, rounds=5, clock=clock)
    assert r.median == r.best == r.worst == 4.0


def test_median_resists_one_round_hit_on_one_side():
    # the base side alone is slowed 30x in one round: that round's ratio is an outlier
    clock, log = FakeClock(), []
    base = workload(clock, log, "f", [1.0, 1.0, 30.0, 1.0, 1.0, 1.0])
    other = workload(clock, log, "q", [0.5])
    r = compare_speed(base, other, rounds=5, clock=clock)
    assert r.median == 2.0
    assert r.best == 60.0
    assert r.worst == 2.0
    assert r.seconds_base == 1.0  # the median call, not the slowed one


def test_min_time_repeats_fast_calls():
    clock, log = FakeClock(), []
    base = workload(clock, log, "f", [0.1])
    other = workload(clock, log, "q", [0.01])
    r = compare_speed(base, other, rounds=3, min_time=0.05, clock=clock)
    assert log.count("f") == 1 + 3           # 0.1 s already lasts min_time
    assert log.count("q") == 1 + 3 * 5       # 5 calls of 0.01 s make a 0.05 s sample
    assert r.median == pytest.approx(10.0)
    assert r.seconds_other == pytest.approx(0.01)


def test_zero_duration_does_not_divide_by_zero():
    clock, log = FakeClock(), []
    r = compare_speed(workload(clock, log, "f", [1.0]), workload(clock, log, "q", [0.0]),
                      rounds=3, clock=clock)
    assert math.isinf(r.median)
    r = compare_speed(workload(clock, log, "f", [0.0]), workload(clock, log, "q", [0.0]),
                      rounds=3, clock=clock)
    assert r.median == 1.0


@pytest.mark.parametrize("kw, match", [
    (dict(rounds=0), "rounds"), (dict(rounds=2.5), "rounds"), (dict(rounds=True), "rounds"),
    (dict(min_time=-1), "min_time"), (dict(min_time=math.inf), "min_time"),
    (dict(min_time="1"), "min_time"),
])
def test_bad_arguments_name_the_argument(kw, match):
    with pytest.raises(ValueError, match=match):
        compare_speed(lambda: None, lambda: None, **kw)


def test_non_callables_rejected():
    with pytest.raises(TypeError, match="callables"):
        compare_speed(1, lambda: None)


def test_load_note_only_when_others_compete():
    # our own busy threads account for the load: no note
    assert load_note(2, loadavg=2.1, ncpu=2) is None
    assert load_note(1, loadavg=0.3, ncpu=2) is None
    # one thread on a big machine: plenty of spare cores for the others
    assert load_note(1, loadavg=10.0, ncpu=64) is None
    # others want more than the cores we leave free
    note = load_note(2, loadavg=5.0, ncpu=2)
    assert note is not None and "5.0" in note and "2 CPUs" in note and "2 threads" in note
    note = load_note(1, loadavg=3.0, ncpu=2)
    assert note is not None and "1 thread " in note


def test_load_note_without_a_load_average(monkeypatch):
    import os

    def unavailable():
        raise OSError("no load average here")
    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert load_note(1) is None
