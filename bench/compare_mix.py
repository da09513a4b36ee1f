"""fastnn next to numpy, and under load (issue 19, point 3).

    python bench/compare.py mix [--rounds 7] [--policies default,fastnn,passive]

Two measurements, each libgomp wait policy in its own process (libgomp reads it once, at load):

1. **Mixed with numpy** (one process, no other load): a 128x512 @ 512x256 `fastnn.ops.matmul`
   alone and right after a numpy (OpenBLAS) 256x256 matmul; the numpy product alone and right
   after fastnn's; a PyTorch 128x512 @ 512x256 product (its own vendored OpenMP runtime) alone and
   right after fastnn's, when torch is installed. Ratio = alone / after (1.0: no harm; target
   >= 0.8 both ways). Medians over `--n` calls per round; rounds alternate so load drift hits all
   alike; each ratio is reported as its median and best round (the rounds are paired).
2. **Under load**: one competing busy process (a Python spin loop) on the 2-core machine; fastnn at
   2 threads vs 1 thread on a 1024^3 GEMM and on a training step of the MNIST CNN (batch 64).
   Ratio = time(1 thread) / time(2 threads) (>= 1.0: two threads never lose).

Policies: `default`: the environment as the user has it (fastnn sets nothing when the user set
OMP_WAIT_POLICY or GOMP_SPINCOUNT); `fastnn`: what fastnn sets when the user set nothing (see
fastnn/_threads.py); `libgomp`: libgomp's own default (FASTNN_SPIN_POLICY=off); `passive`:
OMP_WAIT_POLICY=passive.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

POLICY_ENV = {"fastnn": {}, "libgomp": {"FASTNN_SPIN_POLICY": "off"},
              "passive": {"OMP_WAIT_POLICY": "passive"}}


def _median_call(fn, before=None, n=40):
    ts = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _mixed(rounds, n):
    import numpy as np
    sys.path.insert(0, ROOT)
    from fastnn import ops
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 512)).astype(np.float32)
    b = rng.standard_normal((512, 256)).astype(np.float32)
    na, nb = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    pairs = {"f": (lambda: ops.matmul(a, b)), "n": (lambda: na @ nb)}
    try:  # PyTorch in the same process (its own vendored OpenMP runtime), when installed
        import torch
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        pairs["t"] = lambda: torch.mm(ta, tb)
    except ImportError:
        pass
    before = {"f": pairs["n"], "n": pairs["f"], "t": pairs["f"]}  # torch: right after fastnn
    for fn in pairs.values():
        fn()
    res = {f"{k}_{w}": [] for k in pairs for w in ("alone", "after")}
    for _ in range(rounds):
        for k, fn in pairs.items():
            res[f"{k}_alone"].append(_median_call(fn, n=n))
            res[f"{k}_after"].append(_median_call(fn, before=before[k], n=n))
    return res


def _loaded(rounds):
    import numpy as np
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    import fastnn
    from fastnn import nn, ops, optim
    from compare_mnist import fastnn_cnn
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    fastnn.manual_seed(0)
    model = fastnn_cnn()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)

    def step():
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        out = {}
        for name, fn, n in (("gemm", lambda: ops.matmul(a, a), 5), ("cnn_step", step, 5)):
            t = {1: [], 2: []}
            for _ in range(rounds):
                for k in (1, 2):
                    fastnn.set_num_threads(k)
                    fn()
                    t[k].append(_median_call(fn, n=n))
            out[name] = t
        return out
    finally:
        spin.kill()
        spin.wait()


def worker(kind, rounds, n):
    res = _mixed(rounds, n) if kind == "mixed" else _loaded(rounds)
    print(json.dumps(res))


def _ms(ts, digits=3):
    return f"{statistics.median(ts) * 1e3:.{digits}f}"


def _ratios(base, other):
    """Per-round ratios base/other: 'median / best' (rounds are paired: same round, same load)."""
    r = [x / y for x, y in zip(base, other)]
    return f"{statistics.median(r):.2f} / {max(r):.2f}"


def _run(policy, kind, rounds, n):
    env = {k: v for k, v in os.environ.items()
           if policy == "default" or k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(POLICY_ENV.get(policy, {}))
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(rounds), str(n)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    sys.path.insert(0, HERE)
    from timing import table
    ap = argparse.ArgumentParser(prog="compare.py mix")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--policies", default="fastnn,libgomp,passive")
    a = ap.parse_args(argv)
    policies = a.policies.split(",")
    load0 = os.getloadavg()[0]
    rows_m, rows_l = [], []
    for p in policies:
        m = _run(p, "mixed", a.rounds, a.n)
        row = [p]
        for k in ("f", "n", "t"):
            if f"{k}_alone" in m:
                row += [_ms(m[f"{k}_alone"]), _ms(m[f"{k}_after"]),
                        _ratios(m[f"{k}_alone"], m[f"{k}_after"])]
            else:
                row += ["-", "-", "-"]
        rows_m.append(row)
    for p in policies:
        r = _run(p, "loaded", a.rounds, a.n)
        rows_l.append([p] + [f"{_ms(r[k]['1'], 1)} / {_ms(r[k]['2'], 1)} = "
                             f"{_ratios(r[k]['1'], r[k]['2'])}" for k in ("gemm", "cnn_step")])
    print(f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f} (2 cores); {a.rounds} rounds; "
          "times: median round (ms); ratios: median round / best round")
    print("\n1. fastnn 128x512@512x256, numpy 256x256 and PyTorch 128x512@512x256 matmul, alone "
          "and right after the other library (torch: after fastnn); ratio = alone / after, "
          "target >= 0.8")
    print(table(["policy", "fastnn alone", "after numpy", "ratio", "numpy alone",
                 "after fastnn", "ratio", "torch alone", "after fastnn", "ratio"], rows_m))
    print("\n2. one competing busy process: ms at 1 thread / 2 threads = ratio (target >= 1.0)")
    print(table(["policy", "GEMM 1024^3", "CNN train step b64"], rows_l))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main(sys.argv[1:]))
