"""MNIST training and inference: fastnn against PyTorch CPU, same model, batch, optimizer, threads.

    python bench/compare.py mnist [--data PATH] [--threads N] [--rounds R] [--accuracy]
                                  [--epochs E] [--only mlp|cnn]

Speed: samples/s of a training step (forward, loss, backward, Adam step) over the same batches
(fastnn's backward with input_grad=False, as fit does: no gradient for the data, as in PyTorch),
fastnn vs PyTorch twice: as users run it by default (NCHW, torch.optim.Adam() — on CPU a per-
tensor loop) and at its best (Adam(fused=True), channels_last for the CNN); timed interleaved
(A B C A B C ...), medians and bests of R rounds. Inference: samples/s at batch 256 (fastnn eval
forward vs torch.inference_mode). --accuracy also trains fastnn for E epochs with fastnn.fit and
reports test accuracy (and PyTorch's with the same recipe when --torch-accuracy is given).
Both libraries start from the same weights.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from timing import table, time_interleaved  # noqa: E402


def default_data_path():
    env = os.environ.get("FASTNN_DATA")
    if env and os.path.exists(os.path.join(env, "mnist.npz")):
        return os.path.join(env, "mnist.npz")
    return os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist.npz")


def fastnn_mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def fastnn_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def torch_model(torch, kind):
    tnn = torch.nn
    if kind == "mlp":
        return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256),
                              tnn.ReLU(), tnn.Linear(256, 10))
    return tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(3136, 128), tnn.ReLU(), tnn.Dropout(0.25), tnn.Linear(128, 10))


def copy_weights(torch, src, dst, kind):
    """fastnn state_dict -> torch model (the mlp's torch Flatten shifts indices by one)."""
    sd = src.state_dict()
    if kind == "mlp":
        sd = {f"{int(k.split('.')[0]) + 1}.{k.split('.', 1)[1]}": v for k, v in sd.items()}
    dst.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=False)


def load(path):
    with np.load(path) as d:
        xtr = d["x_train"].astype(np.float32) / 255.0
        xte = d["x_test"].astype(np.float32) / 255.0
        return xtr, d["y_train"].astype(np.int64), xte, d["y_test"].astype(np.int64)


def speed(kind, xtr, ytr, xte, threads, rounds, torch):
    bs = 128 if kind == "mlp" else 64
    n_batches = 20 if kind == "mlp" else 6
    shape = (-1, 784) if kind == "mlp" else (-1, 1, 28, 28)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(xtr))[: bs * n_batches]
    xb = [np.ascontiguousarray(xtr[idx[i * bs:(i + 1) * bs]].reshape(shape))
          for i in range(n_batches)]
    yb = [ytr[idx[i * bs:(i + 1) * bs]] for i in range(n_batches)]

    fastnn.manual_seed(0)
    fm = fastnn_mlp() if kind == "mlp" else fastnn_cnn()
    fopt = optim.Adam(fm.parameters(), lr=1e-3)
    floss = nn.CrossEntropyLoss()

    def f_train():
        fm.train()
        for x, y in zip(xb, yb):
            out = fm(x)
            floss(out, y)
            fopt.zero_grad()
            fm.backward(floss.backward(), input_grad=False)  # as torch: no grad for data
            fopt.step()

    fns, names = [f_train], ["fastnn"]
    if torch is not None:
        torch.set_num_threads(threads)
        tloss = torch.nn.CrossEntropyLoss()
        variants = [("torch default", False, False), ("torch best", True, kind == "cnn")]
        for name, fused, cl in variants:
            tm = torch_model(torch, kind)
            copy_weights(torch, fm, tm, kind)
            if cl:
                tm = tm.to(memory_format=torch.channels_last)
            topt = torch.optim.Adam(tm.parameters(), lr=1e-3, fused=True) if fused else \
                torch.optim.Adam(tm.parameters(), lr=1e-3)
            txb = [torch.from_numpy(x) for x in xb]
            if cl:
                txb = [x.contiguous(memory_format=torch.channels_last) for x in txb]
            tyb = [torch.from_numpy(y) for y in yb]

            def t_train(tm=tm, topt=topt, txb=txb, tyb=tyb):
                tm.train()
                for x, y in zip(txb, tyb):
                    topt.zero_grad()
                    loss = tloss(tm(x), y)
                    loss.backward()
                    topt.step()

            fns.append(t_train)
            names.append(name + (" (fused Adam, channels_last)" if cl else
                                 " (fused Adam)" if fused else " (NCHW, Adam())"))
    med, best = time_interleaved(fns, rounds=rounds, min_time=0.3)
    n = bs * n_batches
    rows = []
    for name, m, b in zip(names, med, best):
        rows.append([f"{kind} train", name, f"{n / m:,.0f}", f"{n / b:,.0f}",
                     f"{med[0] and m / med[0]:.2f}x", f"{best[0] and b / best[0]:.2f}x"])

    # inference at batch 256
    xi = np.ascontiguousarray(xte[:256].reshape(shape))
    fm.eval()

    def f_inf():
        with fastnn.no_grad():  # inference, as torch.inference_mode: the compiled plan
            fm(xi)
    ifns, inames = [f_inf], ["fastnn (no_grad)"]
    if torch is not None:
        tm = torch_model(torch, kind)
        copy_weights(torch, fm, tm, kind)
        tm.eval()
        txi = torch.from_numpy(xi)

        def t_inf():
            with torch.inference_mode():
                tm(txi)
        ifns.append(t_inf)
        inames.append("torch default (NCHW, inference_mode)")
        if kind == "cnn":
            tmc = torch_model(torch, kind)
            copy_weights(torch, fm, tmc, kind)
            tmc.eval()
            tmc = tmc.to(memory_format=torch.channels_last)
            txc = txi.contiguous(memory_format=torch.channels_last)

            def t_inf_cl():
                with torch.inference_mode():
                    tmc(txc)
            ifns.append(t_inf_cl)
            inames.append("torch channels_last (inference_mode)")
    med, best = time_interleaved(ifns, rounds=rounds, min_time=0.3)
    for name, m, b in zip(inames, med, best):
        rows.append([f"{kind} infer b256", name, f"{256 / m:,.0f}", f"{256 / b:,.0f}",
                     f"{m / med[0]:.2f}x", f"{b / best[0]:.2f}x"])
    return rows


def accuracy(kind, xtr, ytr, xte, yte, epochs, torch_too, torch):
    shape = (-1, 784) if kind == "mlp" else (-1, 1, 28, 28)
    bs = 128 if kind == "mlp" else 64
    fastnn.manual_seed(0)
    fm = fastnn_mlp() if kind == "mlp" else fastnn_cnn()
    opt = optim.Adam(fm.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    fastnn.fit(fm, nn.CrossEntropyLoss(), opt, xtr.reshape(shape), ytr, batch_size=bs,
               epochs=epochs, verbose=0, seed=0)
    dt = time.perf_counter() - t0
    acc = fastnn.evaluate(fm, nn.CrossEntropyLoss(), xte.reshape(shape), yte)["accuracy"]
    rows = [[f"{kind} {epochs} ep", "fastnn (fit)", f"{100 * acc:.2f}%",
             f"{epochs * len(xtr) / dt:,.0f} samples/s end to end"]]
    if torch_too and torch is not None:
        torch.manual_seed(0)
        tm = torch_model(torch, kind)
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()
        X = torch.from_numpy(np.ascontiguousarray(xtr.reshape(shape)))
        Y = torch.from_numpy(ytr)
        t0 = time.perf_counter()
        for _ in range(epochs):
            tm.train()
            perm = torch.randperm(len(X))
            for i in range(0, len(X), bs):
                j = perm[i:i + bs]
                topt.zero_grad()
                lossf(tm(X[j]), Y[j]).backward()
                topt.step()
        dt = time.perf_counter() - t0
        tm.eval()
        with torch.inference_mode():
            pred = tm(torch.from_numpy(np.ascontiguousarray(xte.reshape(shape)))).argmax(1)
        tacc = float((pred.numpy() == yte).mean())
        rows.append([f"{kind} {epochs} ep", "torch default", f"{100 * tacc:.2f}%",
                     f"{epochs * len(xtr) / dt:,.0f} samples/s end to end"])
    return rows


def main(argv):
    ap = argparse.ArgumentParser(prog="compare.py mnist")
    ap.add_argument("--data", default=default_data_path())
    ap.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=["mlp", "cnn"], default=None)
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--torch-accuracy", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args(argv)
    if not os.path.exists(a.data):
        print(f"MNIST not found at {a.data}: pass --data PATH/mnist.npz")
        return 2
    try:
        import torch
    except ImportError:
        torch = None
        print("torch not installed (pip install '.[bench]'): fastnn figures only")
    fastnn.set_num_threads(a.threads)
    xtr, ytr, xte, yte = load(a.data)
    kinds = [a.only] if a.only else ["mlp", "cnn"]
    try:
        load_avg = os.getloadavg()[0]
    except OSError:
        load_avg = float("nan")
    print(f"fastnn {fastnn.__version__} ({fastnn.get_isa()}), torch "
          f"{getattr(torch, '__version__', '-')}, {a.threads} threads, load avg {load_avg:.1f}")
    rows = []
    for k in kinds:
        rows += speed(k, xtr, ytr, xte, a.threads, a.rounds, torch)
    print(table(["what", "who", "samples/s (median)", "samples/s (best)", "time vs fastnn (med)",
                 "time vs fastnn (best)"], rows))
    print("time vs fastnn > 1 means fastnn is that many times faster.")
    if a.accuracy:
        acc_rows = []
        for k in kinds:
            acc_rows += accuracy(k, xtr, ytr, xte, yte, a.epochs, a.torch_accuracy, torch)
        print(table(["model", "who", "test accuracy", "speed"], acc_rows))
    return 0
