"""GEMM thread scaling against the per-thread work threshold (docs/kernels.md, Threading).

    python bench/thread_sweep.py 1 4 16    # thresholds in MFLOP per thread, one process each

Prints GF/s of fastnn.ops.matmul for each shape at 1, 2, 4, 8, 12 and 16 threads per threshold
(FASTNN_GEMM_MFLOP_PER_THREAD). For a many-core machine; medians of 5 rounds."""
import os, sys, time, json, subprocess
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np
SHAPES = [(128, 784, 512), (128, 512, 784), (512, 128, 784), (784, 128, 512), (128, 512, 256), (64, 256, 128),
          (256, 256, 256), (1024, 1024, 1024), (12544, 64, 288), (3136, 64, 576), (196, 64, 288)]
def child():
    import fastnn
    from fastnn import ops
    res = {}
    rng = np.random.default_rng(0)
    for (m, n, k) in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32); b = rng.standard_normal((k, n)).astype(np.float32)
        for nt in [1, 2, 4, 8, 12, 16]:
            fastnn.set_num_threads(nt)
            ops.matmul(a, b)
            reps = max(3, int(2e9 / (2 * m * n * k) / max(1, nt)))
            reps = min(reps, 2000)
            best = []
            for r in range(5):
                t0 = time.perf_counter()
                for _ in range(reps): ops.matmul(a, b)
                best.append((time.perf_counter() - t0) / reps)
            res[f"{m}x{n}x{k}@{nt}"] = 2 * m * n * k / float(np.median(best)) / 1e9
    print(json.dumps(res))
if len(sys.argv) > 1 and sys.argv[1] == "child":
    child(); sys.exit()
out = {}
for thr in sys.argv[1:] or ["1"]:
    env = dict(os.environ, FASTNN_GEMM_MFLOP_PER_THREAD=thr, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", ""))
    r = subprocess.run([sys.executable, __file__, "child"], env=env, capture_output=True, text=True)
    if r.returncode: print(r.stderr[-2000:]); continue
    out[thr] = json.loads(r.stdout.strip().splitlines()[-1])
thrs = list(out)
print("GF/s, fastnn.ops.matmul (m x n x k), columns: threshold MFLOP/thread @ threads")
for (m, n, k) in SHAPES:
    row = f"{m}x{n}x{k}".ljust(16)
    for thr in thrs:
        row += " | " + " ".join(f"{out[thr][f'{m}x{n}x{k}@{nt}']:6.0f}" for nt in [1, 2, 4, 8, 12, 16])
    print(row)
print("thresholds:", thrs, "threads: 1 2 4 8 12 16")
