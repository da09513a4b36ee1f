"""The `models` section of compare_prune.py: pruning whole MNIST models with fastnn.prune.

  mlp   784-512-256-10 (ReLU), Adam 1e-3, batch 128, trained --epochs with fastnn.fit; then
        (a) GradualPruning to 90% weight sparsity while fine-tuning (--prune-epochs): test
            accuracy within 0.5 pp of the dense model;
        (b) unit_prune of 50% of the hidden units (512 -> 256, 256 -> 128) + --finetune-epochs:
            within 1 pp, and inference of the smaller model >= 1.8x faster at batch 256
            (batch 64 reported);
        (c) the 90%-sparse model from (a) through to_sparse: end to end >= 2x faster than the
            same weights run dense, at batch 64 (batch 256 reported).
  cnn   conv(1->32,3,pad1)-BN-ReLU-maxpool2 -> conv(32->64,3,pad1)-BN-ReLU-maxpool2 ->
        Linear(3136->128)-ReLU-Dropout(0.25) -> Linear(128->10), Adam 1e-3, batch 64, trained
        --cnn-epochs on the first --cnn-train images; GradualPruning to 75% while fine-tuning
        (--cnn-prune-epochs): within 0.5 pp. Skipped when fastnn.nn has no Conv2d.

Training runs with the largest --threads value; inference speed is timed per thread count,
interleaved (bench/timing.py time_interleaved): medians and bests of the rounds. The MNIST file is
../shared/data/mnist.npz (or --data / $FASTNN_DATA); without it the section says so and skips.
"""
import copy
import os
import time

import numpy as np

import fastnn
from fastnn import nn, optim
from fastnn.prune import (GradualPruning, magnitude_prune, remove_masks, sparsity_report,
                          to_sparse, unit_prune)
from timing import table, time_interleaved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_path(arg):
    if arg:
        return arg
    env = os.environ.get("FASTNN_DATA")
    if env and os.path.exists(os.path.join(env, "mnist.npz")):
        return os.path.join(env, "mnist.npz")
    # ../shared/data beside the checkout (a git worktree sits one level deeper)
    for base in (os.path.dirname(ROOT), os.path.dirname(os.path.dirname(ROOT))):
        path = os.path.join(base, "shared", "data", "mnist.npz")
        if os.path.exists(path):
            return path
    return os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist.npz")


def load(path):
    (xtr, ytr), (xte, yte) = fastnn.datasets.load_mnist(path, download=False)
    f = lambda x: (x.astype(np.float32) / 255.0)  # noqa: E731
    return f(xtr), ytr.astype(np.int64), f(xte), yte.astype(np.int64)


def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def train(model, x, y, epochs, batch, lr, seed, callbacks=()):
    opt = optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=batch, epochs=epochs,
               callbacks=list(callbacks), verbose=0, seed=seed)
    return time.perf_counter() - t0


def accuracy(model, x, y):
    return fastnn.evaluate(model, nn.CrossEntropyLoss(), x, y)["accuracy"]


def verdict(ok):
    return "met" if ok else "MISSED"


def speed(models, x, threads, rounds, min_time):
    """{thread count: (medians, bests)} of eval forwards of each model on x."""
    out = {}
    for m in models:
        m.eval()
    for nt in threads:
        fastnn.set_num_threads(nt)
        fns = [lambda m=m: m(x) for m in models]
        out[nt] = time_interleaved(fns, rounds=rounds, min_time=min_time)
    return out


def mlp_speed(dense, small, pruned, xte2, threads, args, targets):
    """Inference: dense vs unit-pruned (b); the same 90% weights dense vs to_sparse (c)."""
    dense90 = copy.deepcopy(pruned)
    remove_masks(dense90)  # the plain dense path (no per-forward mask pass)
    sparse90 = to_sparse(pruned)
    srows = []
    for batch in (64, 256):
        x = np.ascontiguousarray(xte2[:batch])
        ref = dense90.eval()(x)
        got = sparse90.eval()(x)
        assert np.max(np.abs(got - ref)) <= 1e-4 * (1 + np.abs(ref).max()), "to_sparse differs"
        res = speed([dense, small, dense90, sparse90], x, threads, args.rounds, args.min_time)
        for nt, (med, best) in res.items():
            srows.append([nt, batch, f"{med[0] * 1e6:.0f}", f"{med[1] * 1e6:.0f}",
                          f"{med[0] / med[1]:.2f}x ({best[0] / best[1]:.2f}x)",
                          f"{med[2] * 1e6:.0f}", f"{med[3] * 1e6:.0f}",
                          f"{med[2] / med[3]:.2f}x ({best[2] / best[3]:.2f}x)"])
            if batch == 256:
                targets.append([f"mlp units 50%: speed b=256 thr={nt}",
                                f"{med[0] / med[1]:.2f}x", ">= 1.8x",
                                verdict(med[0] / med[1] >= 1.8)])
            if batch == 64:
                targets.append([f"mlp 90% to_sparse: speed b=64 thr={nt}",
                                f"{med[2] / med[3]:.2f}x", ">= 2x",
                                verdict(med[2] / med[3] >= 2.0)])
    return srows


def print_speed(srows):
    print("\n== models: inference, eval forward, us per batch (median; speed-up median (best))")
    print(table(["thr", "batch", "dense", "units 50%", "speed-up", "90% dense", "90% to_sparse",
                 "speed-up"], srows))


def section_models(args, threads):
    path = data_path(args.data)
    if not os.path.exists(path):
        print(f"\n== models: skipped (no MNIST file at {path}; pass --data)")
        return
    xtr, ytr, xte, yte = load(path)
    xtr2, xte2 = xtr.reshape(-1, 784), xte.reshape(-1, 784)
    n_thr = max(threads)
    fastnn.set_num_threads(n_thr)
    rows, targets, log = [], [], []
    t_start = time.perf_counter()
    fastnn.manual_seed(0)
    dense = mlp()

    if args.speed_only:  # untrained weights pruned the same way: speed does not need training
        pruned = copy.deepcopy(dense)
        magnitude_prune(pruned, 0.9)
        small = copy.deepcopy(dense)
        unit_prune(small, 0.5)
        print_speed(mlp_speed(dense, small, pruned, xte2, threads, args, targets))
        print("(--speed-only: untrained weights, 90% per layer by magnitude, 50% of units)\n")
        print(table(["target", "measured", "wanted", ""], targets))
        return

    # -- MLP: dense baseline ----------------------------------------------------------------------
    dt = train(dense, xtr2, ytr, args.epochs, 128, 1e-3, seed=0)
    acc_dense = accuracy(dense, xte2, yte)
    rows.append(["mlp dense", f"{args.epochs} ep", f"{100 * acc_dense:.2f}%", "-",
                 f"{dt:.0f} s"])

    # (a) gradual magnitude pruning to 90% while fine-tuning
    pruned = copy.deepcopy(dense)
    end = max(args.prune_epochs - 2, 0)
    sched = GradualPruning(0.9, start_epoch=0, end_epoch=end, initial_sparsity=0.5)
    dt = train(pruned, xtr2, ytr, args.prune_epochs, 128, 1e-3, seed=1, callbacks=[sched])
    acc_90 = accuracy(pruned, xte2, yte)
    rep = sparsity_report(pruned)
    sp = rep["total"]["weight_sparsity"]
    rows.append(["mlp 90% weights (gradual)", f"+{args.prune_epochs} ep",
                 f"{100 * acc_90:.2f}%", f"{100 * (acc_90 - acc_dense):+.2f} pp", f"{dt:.0f} s"])
    log.append("schedule (epoch, sparsity): " + ", ".join(f"({e}, {s:.3f})"
                                                          for e, s in sched.schedule()))
    targets.append(["mlp 90% gradual: accuracy", f"{100 * (acc_90 - acc_dense):+.2f} pp "
                    f"(sparsity {sp:.1%})", ">= -0.5 pp", verdict(acc_90 - acc_dense >= -0.005)])

    # Context: the dense model trained as long as the pruned one (same seed and recipe).
    if args.reference:
        longer = copy.deepcopy(dense)
        dt = train(longer, xtr2, ytr, args.prune_epochs, 128, 1e-3, seed=1)
        acc_long = accuracy(longer, xte2, yte)
        rows.append(["mlp dense, trained on (reference)", f"+{args.prune_epochs} ep",
                     f"{100 * acc_long:.2f}%", f"{100 * (acc_long - acc_dense):+.2f} pp",
                     f"{dt:.0f} s"])
        log.append(f"90% gradual vs the dense model trained as long: "
                   f"{100 * (acc_90 - acc_long):+.2f} pp")

    # (b) unit pruning of half the hidden units, then fine-tuning
    small = copy.deepcopy(dense)
    unit_prune(small, 0.5)
    shapes = [m.weight.shape for m in small.modules() if isinstance(m, nn.Linear)]
    dt = train(small, xtr2, ytr, args.finetune_epochs, 128, 1e-3, seed=2)
    acc_small = accuracy(small, xte2, yte)
    rows.append([f"mlp units 50% ({shapes[0][1]}-{shapes[0][0]}-{shapes[1][0]}-10)",
                 f"+{args.finetune_epochs} ep", f"{100 * acc_small:.2f}%",
                 f"{100 * (acc_small - acc_dense):+.2f} pp", f"{dt:.0f} s"])
    targets.append(["mlp units 50%: accuracy", f"{100 * (acc_small - acc_dense):+.2f} pp",
                    ">= -1 pp", verdict(acc_small - acc_dense >= -0.01)])

    srows = mlp_speed(dense, small, pruned, xte2, threads, args, targets)
    log.append(f"90% model: {rep['total']['dense_bytes'] / 2**20:.2f} MiB dense, "
               f"{rep['total']['sparse_bytes'] / 2**20:.2f} MiB as CSR")
    fastnn.set_num_threads(n_thr)

    # -- CNN -------------------------------------------------------------------------------------
    if not hasattr(nn, "Conv2d"):
        log.append("cnn: skipped (no Conv2d in this build)")
    elif args.cnn_epochs > 0:
        n = min(args.cnn_train, len(xtr))
        xc, xtc = xtr[:n].reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
        fastnn.manual_seed(0)
        cdense = cnn()
        dt = train(cdense, xc, ytr[:n], args.cnn_epochs, 64, 1e-3, seed=0)
        acc_cd = accuracy(cdense, xtc, yte)
        rows.append([f"cnn dense ({n} images)", f"{args.cnn_epochs} ep", f"{100 * acc_cd:.2f}%",
                     "-", f"{dt:.0f} s"])
        if args.reference:
            clong = copy.deepcopy(cdense)
            train(clong, xc, ytr[:n], args.cnn_prune_epochs, 64, 1e-3, seed=1)
            log.append(f"cnn dense trained +{args.cnn_prune_epochs} ep (reference): "
                       f"{100 * accuracy(clong, xtc, yte):.2f}%")
        cpr = copy.deepcopy(cdense)
        end = max(args.cnn_prune_epochs - 2, 0)
        cs = GradualPruning(0.75, start_epoch=0, end_epoch=end, initial_sparsity=0.5)
        dt = train(cpr, xc, ytr[:n], args.cnn_prune_epochs, 64, 1e-3, seed=1, callbacks=[cs])
        acc_c75 = accuracy(cpr, xtc, yte)
        csp = sparsity_report(cpr)["total"]["weight_sparsity"]
        rows.append(["cnn 75% weights (gradual)", f"+{args.cnn_prune_epochs} ep",
                     f"{100 * acc_c75:.2f}%", f"{100 * (acc_c75 - acc_cd):+.2f} pp",
                     f"{dt:.0f} s"])
        targets.append(["cnn 75% gradual: accuracy", f"{100 * (acc_c75 - acc_cd):+.2f} pp "
                        f"(sparsity {csp:.1%})", ">= -0.5 pp",
                        verdict(acc_c75 - acc_cd >= -0.005)])
        x = np.ascontiguousarray(xtc[:256])
        cdense90 = copy.deepcopy(cpr)
        remove_masks(cdense90)
        csparse = to_sparse(cpr, min_sparsity=0.7)
        res = speed([cdense90, csparse], x, threads, args.rounds, args.min_time)
        for nt, (med, best) in res.items():
            log.append(f"cnn 75% b=256 thr={nt}: dense {med[0] * 1e3:.1f} ms, to_sparse "
                       f"{med[1] * 1e3:.1f} ms ({med[0] / med[1]:.2f}x)")

    print(f"\n== models: MNIST ({len(xtr)} train / {len(xte)} test), training with {n_thr} "
          f"threads; accuracy on the test set")
    print(table(["model", "training", "test acc", "vs dense", "train time"], rows))
    print_speed(srows)
    for line in log:
        print(line)
    print()
    print(table(["target", "measured", "wanted", ""], targets))
    print(f"(models section: {time.perf_counter() - t_start:.0f} s)")
