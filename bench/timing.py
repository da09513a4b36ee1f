"""Timing helpers shared by the compare_* suites: interleaved repeats, best-of-N and median, and
one worker process per library (serve_rounds / measure_workers)."""
import json
import statistics
import subprocess
import sys
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


def serve_rounds(fn, min_time, warmups=1):
    """A worker process's side of the line protocol on stdin/stdout: 'ready' once warm, then for
    each 'go' one timed round (seconds per call of fn, JSON); any other line ends it."""
    for _ in range(warmups):
        fn()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        print(json.dumps(time_fn(fn, min_time=min_time, repeats=1, warmup=0)), flush=True)


def measure_workers(argvs, rounds, env, pause=0.1):
    """The coordinator's side: one worker process per name (argvs: name -> command line, each
    running serve_rounds), asked in turn for one timed round each (A B C A B C ...), with a pause
    between turns so the previous worker's threads go idle. Returns name -> (median, best)
    seconds per call."""
    procs = {}
    try:
        for name, argv in argvs.items():
            procs[name] = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True, env=env)
            line = procs[name].stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"{name} worker failed to start ({line!r})")
        times = {name: [] for name in argvs}
        for _ in range(rounds):
            for name in argvs:
                time.sleep(pause)
                procs[name].stdin.write("go\n")
                procs[name].stdin.flush()
                times[name].append(json.loads(procs[name].stdout.readline()))
    finally:
        for p in procs.values():
            try:
                p.stdin.write("quit\n")
                p.stdin.close()
            except OSError:
                pass
            p.wait()
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}
