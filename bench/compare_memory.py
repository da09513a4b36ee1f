"""Peak memory of one training epoch of the MNIST demo CNN: fastnn against PyTorch (issue 19).

    python bench/compare.py memory [--data PATH] [--threads 2] [--batches N]
                                   [--no-fit]

The model: the demo CNN of bench/compare_mnist.py (fastnn_cnn and its PyTorch twin
torch_model(torch, "cnn"), each with its own default initialisation), batch 64, Adam(lr 1e-3),
cross-entropy, one epoch over the 60,000 training images in a shuffled order, the last partial
batch dropped (--batches N: only the first N batches).
The data: ../shared/data/mnist.npz (the `mnist` suite's default, looked for above the
repository root too, so a git worktree inside it finds it; FASTNN_DATA or --data elsewhere)
when present, else random data of MNIST's shape (the output says which).

Each run is a fresh worker process, one after another (never two at once): it imports its
library, loads the data (uint8 -> float32 in place, without a float temporary of the whole set),
collects garbage and records its resident set size (VmRSS) as the baseline; it then resets the
kernel's peak-RSS mark (writing 5 to /proc/self/clear_refs, so the peak measures training, not
the data load or what the parent process held), builds the model and optimizer and trains.
Reported: the baseline, the peak (resource.getrusage(RUSAGE_SELF).ru_maxrss at the end), the
increase peak - baseline, and the epoch's samples/s (a by-product: see `compare.py mnist` for
speed). Rows: fastnn with a hand-written loop (the same loop as PyTorch's: a permutation, then
x[idx] per batch, forward, loss, zero_grad, backward, step), fastnn.fit (the demo's way;
--no-fit leaves it out), PyTorch as users run it (NCHW, torch.optim.Adam()).
The PyTorch worker builds its model from compare_mnist.py, which imports fastnn (about 9 MB of
its baseline; the increase is unaffected).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 64


def default_data_path():
    env = os.environ.get("FASTNN_DATA")
    if env and os.path.exists(os.path.join(env, "mnist.npz")):
        return os.path.join(env, "mnist.npz")
    d = ROOT
    while os.path.dirname(d) != d:
        d = os.path.dirname(d)
        if os.path.exists(os.path.join(d, "shared", "data", "mnist.npz")):
            return os.path.join(d, "shared", "data", "mnist.npz")
    return os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist.npz")


def _rss_mb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _load(path):
    """(x_train float32 (N, 1, 28, 28) in [0, 1], y_train int64, source description)."""
    import numpy as np
    if path and os.path.exists(path):
        with np.load(path) as d:
            xu8, y = d["x_train"], d["y_train"].astype(np.int64)
        source = f"MNIST from {path}"
    else:
        rng = np.random.default_rng(0)
        xu8 = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, 60000).astype(np.int64)
        source = "random data of MNIST's shape (60000 x 1 x 28 x 28; no mnist.npz found)"
    x = np.empty((len(xu8), 1, 28, 28), np.float32)
    np.multiply(xu8.reshape(x.shape), np.float32(1 / 255.0), out=x, dtype=np.float32)
    del xu8
    return x, y, source


def worker(lib, path, threads, batches):
    import gc
    import numpy as np
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
    import fastnn
    from fastnn import nn, optim
    from compare_mnist import fastnn_cnn, torch_model
    fastnn.set_num_threads(threads)
    x, y, source = _load(path)
    gc.collect()
    base, base_peak = _rss_mb(), _maxrss_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    n_batches = len(x) // BATCH if batches <= 0 else min(batches, len(x) // BATCH)
    fastnn.manual_seed(0)
    torch_side = lib == "torch"
    fm = None if torch_side else fastnn_cnn()
    t0 = time.perf_counter()
    if lib == "fastnn fit":
        n = n_batches * BATCH
        fastnn.fit(fm, nn.CrossEntropyLoss(), optim.Adam(fm.parameters(), lr=1e-3), x[:n]
                   if n < len(x) else x, y[:n] if n < len(y) else y, batch_size=BATCH, epochs=1,
                   verbose=0, seed=0)
    elif lib == "fastnn":
        opt, loss = optim.Adam(fm.parameters(), lr=1e-3), nn.CrossEntropyLoss()
        fm.train()
        perm = np.random.default_rng(0).permutation(len(x))
        for b in range(n_batches):
            j = perm[b * BATCH:(b + 1) * BATCH]
            loss(fm(x[j]), y[j])
            opt.zero_grad()
            fm.backward(loss.backward(), input_grad=False)
            opt.step()
    else:
        torch.manual_seed(0)
        tm = torch_model(torch, "cnn")
        opt, loss = torch.optim.Adam(tm.parameters(), lr=1e-3), torch.nn.CrossEntropyLoss()
        X, Y = torch.from_numpy(x), torch.from_numpy(y)
        tm.train()
        perm = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
        for b in range(n_batches):
            j = perm[b * BATCH:(b + 1) * BATCH]
            opt.zero_grad()
            loss(tm(X[j]), Y[j]).backward()
            opt.step()
    dt = time.perf_counter() - t0
    print(json.dumps({"base": base, "base_peak": base_peak, "peak": _maxrss_mb(),
                      "hwm": _rss_mb("VmHWM"), "end": _rss_mb(), "reset": reset,
                      "samples_s": n_batches * BATCH / dt, "batches": n_batches,
                      "source": source}), flush=True)


def main(argv):
    sys.path.insert(0, HERE)
    from timing import table
    ap = argparse.ArgumentParser(prog="compare.py memory", description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data_path())
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=0, help="0: the whole epoch (937 batches)")
    ap.add_argument("--no-fit", action="store_true", help="leave out the fastnn.fit row")
    a = ap.parse_args(argv)
    libs = ["fastnn"] + ([] if a.no_fit else ["fastnn fit"]) + ["torch"]
    labels = {"fastnn": "fastnn (loop as torch's)", "fastnn fit": "fastnn (fastnn.fit)",
              "torch": "torch (NCHW, Adam())"}
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS="1")
    load0 = os.getloadavg()
    rows, source, batches, resets = [], None, None, []
    for lib in libs:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", lib, a.data,
                              str(a.threads), str(a.batches)], stdout=subprocess.PIPE,
                             text=True, env=env, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        source, batches = r["source"], r["batches"]
        resets.append(r["reset"])
        rows.append([labels[lib], f"{r['base']:.0f}", f"{r['peak']:.0f}",
                     f"{r['peak'] - r['base']:.0f}", f"{r['hwm']:.0f}", f"{r['end']:.0f}",
                     f"{r['base_peak']:.0f}", f"{r['samples_s']:,.0f}"])
    load1 = os.getloadavg()
    print(f"MNIST demo CNN, one training epoch ({batches} batches of {BATCH}, Adam), "
          f"{a.threads} threads, each run in a fresh process; data: {source}; "
          f"load average {load0[0]:.2f} -> {load1[0]:.2f}")
    print("MB (2^20 bytes). baseline: VmRSS after imports + data load; peak: ru_maxrss after "
          "the epoch" + ("" if all(resets) else
                         " (peak mark NOT reset after the data load: it may include the load)")
          + "; increase = peak - baseline")
    print(table(["who", "baseline", "peak (ru_maxrss)", "increase", "VmHWM", "RSS at end",
                 "peak before training", "samples/s"], rows))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lib, path, threads, batches = sys.argv[2:6]
        worker(lib, path, int(threads), int(batches))
    else:
        sys.exit(main(sys.argv[1:]))
