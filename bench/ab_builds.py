"""Two builds of fastnn side by side (a before/after table for a refactor or a kernel change):

    python bench/ab_builds.py OLD_ROOT NEW_ROOT [--rounds 7] [--min-time 0.05] [--threads N]

OLD_ROOT and NEW_ROOT are checkouts with the extension built in place. Each round runs one
process per build (alternating which goes first), so neither build's OpenMP threads spin while
the other is timed; each process times the same operations: the GEMM shapes of
`compare.py gemm`, forward and forward+backward of the layers of `compare.py layers`, and the
Adam step of `compare.py optim`. ratio = old time / new time (> 1: the new build is faster),
paired by round: its median and its best (highest) round, with the load average."""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def child(root, min_time, threads):
    sys.path.insert(0, root)
    import numpy as np
    import fastnn  # from root: the bench modules below then reuse this import
    from fastnn import nn, ops, optim
    from fastnn.nn import Parameter
    sys.path.append(HERE)
    import timing
    import compare_gemm
    import compare_layers
    import compare_optim

    if threads:
        fastnn.set_num_threads(threads)
    rng = np.random.default_rng(0)

    def timed(f):
        return timing.time_fn(f, min_time=min_time, repeats=1)

    out = {}
    for label, m, n, k, ta, tb in compare_gemm.SHAPES:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        out[f"gemm {label} {m}x{n}x{k}"] = timed(lambda: ops.matmul(a, b, trans_a=ta, trans_b=tb))
    for name, make, _, shape in compare_layers.cases():
        try:
            layer = make()
        except AttributeError:  # a layer the older build lacks
            continue
        x = rng.standard_normal(shape).astype(np.float32)
        gy = rng.standard_normal(layer(x).shape).astype(np.float32)
        out[f"{name} fwd"] = timed(lambda: layer(x))

        def step():
            layer(x)
            layer.backward(gy)
        out[f"{name} fwd+bwd"] = timed(step)
    for name, shapes in compare_optim.SETS.items():
        ps = [Parameter(rng.standard_normal(s).astype(np.float32) * 0.05) for s in shapes]
        for p in ps:
            p.grad[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.01
        out[f"adam step {name}"] = timed(optim.Adam(ps, lr=1e-3).step)
    out["_isa"] = fastnn.get_isa()
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    runs = {"old": [], "new": []}
    load0 = os.getloadavg()[0]
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for which in order:
            root = os.path.abspath(getattr(args, which))
            p = subprocess.run([sys.executable, __file__, "--child", root, str(args.min_time),
                                str(args.threads)], capture_output=True, text=True)
            if p.returncode:
                sys.exit(f"{which} build ({root}) failed (exit status {p.returncode}):\n"
                         f"{p.stderr[-3000:]}")
            runs[which].append(json.loads(p.stdout.strip().splitlines()[-1]))
    isa = {w: runs[w][0].pop("_isa") for w in runs}
    for w in runs:
        for d in runs[w][1:]:
            d.pop("_isa")
    print(f"old {args.old} ({isa['old']}) vs new {args.new} ({isa['new']}), {args.rounds} rounds, "
          f"threads {args.threads or 'default'}, load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"| {'operation':<44} | old us (med) | new us (med) | old/new median | best round |")
    print(f"|{'-' * 46}|--------------|--------------|----------------|------------|")
    ratios = []
    for op in runs["new"][0]:
        if op not in runs["old"][0]:
            continue
        old = [d[op] for d in runs["old"]]
        new = [d[op] for d in runs["new"]]
        per_round = [o / n for o, n in zip(old, new)]
        ratios.append(statistics.median(per_round))
        print(f"| {op:<44} | {statistics.median(old) * 1e6:12.1f} | "
              f"{statistics.median(new) * 1e6:12.1f} | {statistics.median(per_round):14.2f} | "
              f"{max(per_round):10.2f} |")
    g = statistics.geometric_mean(ratios)
    print(f"geometric mean of the median ratios: {g:.3f} over {len(ratios)} operations")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
