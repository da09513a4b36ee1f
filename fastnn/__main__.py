"""Command line: ``python -m fastnn demo`` (the main job), ``python -m fastnn config`` and
``--version``. Installed, the same commands run as ``fastnn demo`` etc."""
import argparse
import os
import sys
import time

import fastnn
from fastnn import _timing

DATA_EXPECTED = ("expected a Keras-layout mnist.npz (arrays x_train, y_train, x_test, y_test), or "
                 "a folder holding it or the four MNIST IDX files")


class CLIError(Exception):
    """A bad argument found after parsing (a --data file that does not load, say): main prints
    one line naming the argument and exits with status 2, as argparse does."""


def _plural(n, word):
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _int_arg(minimum, maximum=None):
    """argparse type: an int in [minimum, maximum] (argparse names the option in its error)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum or (maximum is not None and v > maximum):
            what = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")
            if maximum is not None:
                what = f"an integer from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
        return v
    parse.__name__ = "int"
    return parse


def _build_cnn(image_size):
    from fastnn import nn
    flat = 64 * (image_size // 4) * (image_size // 4)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def _load_data(path, quiet):
    """MNIST when it can be had (path, $FASTNN_DATA, cache, download); else scikit-learn's digits.
    A given path that does not load is a CLIError, not a silent fallback."""
    import numpy as np
    from fastnn import datasets
    try:
        (xtr, ytr), (xte, yte) = datasets.load_mnist(path)
        name = "MNIST"
        xtr = xtr.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
        xte = xte.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    except (OSError, ValueError) as e:
        if path is not None:
            reason = " ".join(str(e).split())  # one line
            raise CLIError(f"--data: {reason}; {DATA_EXPECTED}") from None
        if not quiet:
            print(f"{str(e).splitlines()[0]}\n"
                  "-> training on scikit-learn's 8x8 digits instead "
                  "(set FASTNN_DATA or pass --data PATH/mnist.npz for MNIST)")
        try:
            (xtr, ytr), (xte, yte) = datasets.load_digits()
        except ImportError as e:  # no scikit-learn either
            raise CLIError(f"{e}; or pass --data PATH/mnist.npz") from None
        name = "digits (8x8)"
        xtr = np.asarray(xtr, np.float32).reshape(-1, 1, 8, 8)
        xte = np.asarray(xte, np.float32).reshape(-1, 1, 8, 8)
        if xtr.max() > 1.5:
            xtr, xte = xtr / 16.0, xte / 16.0
    return name, xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def _output_paths(output):
    """The float and int8 model paths, checked before any training (a typo must not cost a run)."""
    out = output or os.path.join(os.getcwd(), "fastnn-demo-cnn.safetensors")
    if os.path.isdir(out):
        raise CLIError(f"--output {out}: is a folder; expected a file path such as "
                       f"{os.path.join(out, 'model.safetensors')}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise CLIError(f"--output {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"--output {out}: folder {folder} is not writable (pass --output "
                       "PATH.safetensors somewhere writable)")
    root, ext = os.path.splitext(out)
    return out, f"{root}-int8{ext or '.safetensors'}"


def _save(model, path):
    try:
        fastnn.save(model, path)
    except OSError as e:
        raise CLIError(f"--output {path}: cannot write the model ({e.strerror or e})") from None


def _curves(hist, out):
    """Write the training curves (loss, accuracy, lr per epoch) next to the model, and say where."""
    path = os.path.splitext(out)[0] + "-curves.png"
    try:
        fastnn.plot_history(hist, path)
    except ImportError:
        print("training curves: not drawn (needs matplotlib: pip install fastnn[plot])")
    except OSError as e:
        print(f"training curves: not written ({e.strerror or e})")
    else:
        print(f"training curves: {path}")


def demo(args):
    from fastnn import nn, optim
    if args.data is not None and not os.path.exists(os.path.expanduser(args.data)):
        raise CLIError(f"--data {args.data}: no such file or folder; {DATA_EXPECTED}")
    out, q_out = _output_paths(args.output)
    if args.progress:
        os.environ["FASTNN_PROGRESS"] = "bar"  # fastnn.train.progress: bars without a terminal
    if args.threads:
        fastnn.set_num_threads(args.threads)
    # Seed before anything draws random numbers: building the model draws its initial weights.
    fastnn.manual_seed(args.seed)
    threads = fastnn.get_num_threads()
    print(f"fastnn {fastnn.__version__} | ISA {fastnn.get_isa()} | {_plural(threads, 'thread')}")
    name, xtr, ytr, xte, yte = _load_data(args.data, quiet=False)
    epochs = args.epochs if args.epochs is not None else (3 if name == "MNIST" else 15)
    model = _build_cnn(xtr.shape[-1])
    n_params = sum(p.size for p in model.parameters())
    print(f"data: {name}: {len(xtr)} training / {len(xte)} test images of "
          f"{xtr.shape[-2]}x{xtr.shape[-1]}; model: CNN, {n_params:,} parameters; "
          f"Adam(lr=1e-3), batch {args.batch_size}, {_plural(epochs, 'epoch')}")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    # verbose=1: a bar per epoch on a terminal, one line per epoch in a log (train/progress.py)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=args.batch_size,
                      epochs=epochs, verbose=1, seed=args.seed)
    train_s = time.perf_counter() - t0
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(), xte, yte)
    _save(model, out)
    print(f"test accuracy: {100 * res['accuracy']:.2f}%  (loss {res['loss']:.4f})")
    print(f"training speed: {epochs * len(xtr) / train_s:,.0f} samples/s "
          f"({train_s:.1f} s for {_plural(epochs, 'epoch')})")
    note = _timing.load_note(threads)
    if note:
        print(f"  note: {note}")
    print(f"saved model: {out}  ({os.path.getsize(out) / 1e6:.2f} MB)")
    _curves(hist, out)
    if not args.no_compress:
        _compress(model, xtr, ytr, xte, yte, res["accuracy"], out, q_out, args)
    return 0


def _inference_speed(model, qm, xs, batch=256):
    """Print int8 versus float32 inference speed as ratios measured interleaved (_timing).

    The headline is measured on one thread in that thread's CPU time: a busy machine barely moves
    it. With several threads an OpenMP team waits whenever the OS deschedules one of its threads,
    so on a loaded machine a multi-thread ratio swings by 10x or more from run to run; it is
    printed only when the load average says the machine is quiet."""
    def float_fn():
        fastnn.predict(model, xs, batch_size=batch)

    def int8_fn():
        qm.predict(xs, batch_size=batch)

    threads = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    try:
        one = _timing.compare_speed(float_fn, int8_fn, rounds=7, min_time=0.05,
                                    clock=time.thread_time)
    finally:
        fastnn.set_num_threads(threads)
    print(f"  inference, one thread: int8 {one.median:.1f}x float32 (median of {one.rounds} "
          f"interleaved rounds, best {one.best:.1f}x; {len(xs) / one.seconds_other:,.0f} vs "
          f"{len(xs) / one.seconds_base:,.0f} samples per CPU-second, batch {batch})")
    if threads == 1:
        return
    if _timing.load_note(threads) is not None:
        print(f"  inference, {threads} threads: not measured, other processes load the machine "
              f"(load average {os.getloadavg()[0]:.1f}) and would make the figure swing")
        return
    many = _timing.compare_speed(float_fn, int8_fn, rounds=7, min_time=0.05)
    print(f"  inference, {threads} threads: int8 {many.median:.1f}x float32 (median of "
          f"{many.rounds} interleaved rounds, range {many.worst:.1f}x-{many.best:.1f}x; "
          f"{len(xs) / many.seconds_other:,.0f} vs {len(xs) / many.seconds_base:,.0f} samples/s)")


def _compress(model, xtr, ytr, xte, yte, acc, out, q_out, args):
    """The efficient-inference half: int8 quantization and pruning of the trained model."""
    import warnings
    import numpy as np
    from fastnn import nn, optim, prune, quant
    # int8: calibrate on training images, compare accuracy, size and speed with float32
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", quant.QuantizationWarning)
        qm = quant.quantize(model, xtr[:2000], method="minmax")
    q_acc = float(np.mean(np.argmax(qm.predict(xte), axis=1) == yte))
    _save(qm, q_out)
    size = os.path.getsize(q_out) / os.path.getsize(out)
    print(f"int8 (static, per-channel): accuracy {100 * q_acc:.2f}% "
          f"({100 * (q_acc - acc):+.2f} pp), file {size:.2f}x  -> {q_out}")
    _inference_speed(model, qm, xte[:2048])
    for w in caught:
        print(f"  note: {w.message}")
    # pruning: 75% of the weights by magnitude, one epoch of fine-tuning with the masks kept
    pm = fastnn.load(out)
    prune.magnitude_prune(pm, 0.75, scope="global")
    opt = optim.Adam(pm.parameters(), lr=5e-4)
    fastnn.fit(pm, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=args.batch_size, epochs=1,
               verbose=0, seed=args.seed + 1)
    p_acc = fastnn.evaluate(pm, nn.CrossEntropyLoss(), xte, yte)["accuracy"]
    rep = prune.sparsity_report(pm)
    print(f"pruned to {100 * rep['total']['weight_sparsity']:.0f}% weight sparsity + 1 epoch "
          f"fine-tuning: accuracy {100 * p_acc:.2f}% ({100 * (p_acc - acc):+.2f} pp)")
    # Deep Compression: the pruned weights shared among 32 values (5 bits), entropy-coded
    from fastnn import compress
    compress.cluster_weights(pm, 32)
    c_acc = fastnn.evaluate(pm, nn.CrossEntropyLoss(), xte, yte)["accuracy"]
    c_out = os.path.splitext(out)[0] + ".fndc"
    c_size = compress.save_compressed(pm, c_out)
    print(f"Deep Compression (pruned + 32 shared values + Huffman/lzma): accuracy "
          f"{100 * c_acc:.2f}% ({100 * (c_acc - acc):+.2f} pp), file "
          f"{os.path.getsize(out) / c_size:.1f}x smaller than the float model  -> {c_out}")


def _prog():
    """'fastnn' when run as the installed console script, else 'python -m fastnn'."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "fastnn" if os.path.splitext(name)[0] == "fastnn" else "python -m fastnn"


def _parser():
    p = argparse.ArgumentParser(prog=_prog(), description=__doc__)
    p.add_argument("--version", action="version", version=f"fastnn {fastnn.__version__}")
    sub = p.add_subparsers(dest="cmd")
    d = sub.add_parser("demo", help="train the MNIST CNN (digits when MNIST is not available)")
    d.add_argument("--data", default=None,
                   help="path to a Keras-layout mnist.npz or a folder with it or the IDX files")
    d.add_argument("--epochs", type=_int_arg(1), default=None,
                   help="default: 3 on MNIST, 15 on digits")
    d.add_argument("--batch-size", type=_int_arg(1), default=64)
    d.add_argument("--threads", type=_int_arg(1, 1024), default=None,
                   help="default: OMP_NUM_THREADS, else all cores")
    d.add_argument("--seed", type=_int_arg(0), default=0,
                   help="same seed and thread count give the same model, bit for bit")
    d.add_argument("--output", default=None, help="where to save the trained model")
    d.add_argument("--progress", action="store_true",
                   help="progress bars even when stderr is not a terminal")
    d.add_argument("--no-compress", action="store_true",
                   help="skip the int8 quantization and pruning results")
    d.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: mpiexec -n 2 python -m fastnn demo "
                        "--distributed (pip install fastnn[mpi]); --batch-size is per rank")
    sub.add_parser("config", help="print the build and runtime configuration")
    return p, d


def main(argv=None):
    p, d = _parser()
    args = p.parse_args(argv)
    if args.cmd == "demo":
        try:
            if args.distributed:
                from fastnn.distributed.demo import demo as dist_demo
                return dist_demo(args, _load_data, _build_cnn)
            return demo(args)
        except CLIError as e:
            print(f"{d.prog}: error: {e}", file=sys.stderr)
            return 2
    if args.cmd == "config":
        fastnn.show_config()
        return 0
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
