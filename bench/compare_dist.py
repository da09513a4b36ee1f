"""Data-parallel scaling: MNIST MLP 784-512-256-10, Adam, global batch 128 (default).

    python bench/compare.py dist [--ranks 2] [--global-batch 128] [--samples 30000] [--rounds 3]
                                 [--overlap-mb 0.5]

Each round runs, in separate processes and one after the other, 1 process x 1 thread with the
global batch, ``mpiexec -n R`` x 1 thread with global/R per rank (OMP_NUM_THREADS=1) with the
synchronous allreduce (one 25 MB bucket), and the same with ``overlap=True`` and buckets of
--overlap-mb MB (several buckets, started during the backward); it prints samples/s, the ratios,
and the allreduce time per step with its share of the step. It also runs R independent
1-thread processes at once, each training with global/R per step and no communication: their
summed samples/s over the 1 x 1 figure is the ceiling any allreduce could reach on this machine.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.environ.get("FASTNN_MNIST", "/work/shared/data/mnist.npz")


def worker(global_batch, samples, epochs, overlap_kb=0):
    import numpy as np
    import fastnn
    from fastnn import distributed as dist
    from fastnn.nn import Linear, ReLU, Sequential, CrossEntropyLoss
    dist.init()
    n = dist.world_size()
    if os.path.exists(MNIST):
        with np.load(MNIST) as z:
            x = z["x_train"][:samples].reshape(-1, 784).astype(np.float32) / 255.0
            y = z["y_train"][:samples].astype(np.int64)
    else:  # same shapes, same arithmetic
        rng = np.random.default_rng(0)
        x = rng.random((samples, 784), dtype=np.float32)
        y = rng.integers(0, 10, samples)
    fastnn.manual_seed(0)
    m = Sequential(Linear(784, 512), ReLU(), Linear(512, 256), ReLU(), Linear(256, 10))
    opt = dist.DistributedOptimizer(fastnn.optim.Adam(m.parameters(), lr=1e-3),
                                    **({"bucket_mb": overlap_kb / 1024, "overlap": True}
                                       if overlap_kb else {}))
    fastnn.fit(m, CrossEntropyLoss(), opt, x[:global_batch * 4], y[:global_batch * 4],
               batch_size=global_batch // n, epochs=1, verbose=0, distributed=True)  # warm-up
    opt.allreduce_seconds = 0.0
    dist.barrier()
    t0 = time.perf_counter()
    fastnn.fit(m, CrossEntropyLoss(), opt, x, y, batch_size=global_batch // n, epochs=epochs,
               verbose=0, seed=0, distributed=True)
    secs = time.perf_counter() - t0
    steps = epochs * -(-len(x) // global_batch)
    ar = dist.allreduce_sum([opt.allreduce_seconds])[0] / n
    if dist.is_main():
        print(json.dumps({"ranks": n, "buckets": len(opt._buckets[1]) if n > 1 else 0,
                          "early": opt.early_buckets, "samples_per_s": epochs * len(x) / secs,
                          "step_ms": 1e3 * secs / steps, "allreduce_ms": 1e3 * ar / steps,
                          "grad_bytes": 4 * sum(p.size for p in m.parameters())}))


def _run(ranks, args, overlap_kb=0):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env = {k: v for k, v in env.items() if not k.startswith(("PMI_", "HYDRA_"))}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(args.global_batch),
           str(args.samples), str(args.epochs), str(overlap_kb)]
    if ranks > 1:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _ceiling(ranks, args):
    """R independent single processes at once, batch global/R, no communication."""
    env = {k: v for k, v in dict(os.environ, OMP_NUM_THREADS="1").items()
           if not k.startswith(("PMI_", "HYDRA_"))}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker",
           str(args.global_batch // ranks), str(args.samples), str(args.epochs), "0"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(ranks)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return sum(o["samples_per_s"] for o in outs)


def main(argv):
    p = argparse.ArgumentParser(prog="compare.py dist")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--global-batch", type=int, default=128)
    p.add_argument("--samples", type=int, default=30000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--overlap-mb", type=float, default=0.5)
    args = p.parse_args(argv)
    ratios, oratios, cratios, rows = [], [], [], []
    kb = max(1, int(round(args.overlap_mb * 1024)))
    for r in range(args.rounds):
        load = open("/proc/loadavg").read().split()[0]
        one, many, ov = _run(1, args), _run(args.ranks, args), _run(args.ranks, args, kb)
        cratios.append(_ceiling(args.ranks, args) / one["samples_per_s"])
        ratios.append(many["samples_per_s"] / one["samples_per_s"])
        oratios.append(ov["samples_per_s"] / one["samples_per_s"])
        rows.append((r, load, one, many))

        def rk(d):
            return (f"{d['samples_per_s']:,.0f} samples/s, {d['step_ms']:.2f} ms/step, allreduce "
                    f"{d['allreduce_ms']:.2f} ms/step "
                    f"({100 * d['allreduce_ms'] / d['step_ms']:.0f}%)")
        print(f"round {r}: load {load} | 1x1: {one['samples_per_s']:,.0f} samples/s, "
              f"{one['step_ms']:.2f} ms/step | {args.ranks}x1 sync: {rk(many)}, ratio "
              f"{ratios[-1]:.2f}x | {args.ranks}x1 overlap ({ov['buckets']} buckets of "
              f"<= {args.overlap_mb:g} MB, {ov['early']} started in backward): {rk(ov)}, ratio "
              f"{oratios[-1]:.2f}x | ceiling ({args.ranks} independent processes, no "
              f"communication) {cratios[-1]:.2f}x", flush=True)
    for name, rs in (("synchronous", ratios), ("overlapped", oratios),
                     ("ceiling without communication", cratios)):
        s = sorted(rs)
        print(f"{args.ranks} ranks x 1 thread vs 1 x 1, global batch {args.global_batch}, "
              f"{name}: ratio median {s[len(s) // 2]:.2f}x, best {s[-1]:.2f}x")
    print(f"gradient {rows[0][3]['grad_bytes'] / 1e6:.2f} MB per step")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.path.insert(0, os.path.dirname(HERE))
        worker(*[int(a) for a in sys.argv[2:6]])
    else:
        sys.exit(main(sys.argv[1:]))
