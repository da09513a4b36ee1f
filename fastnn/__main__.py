"""Command line: ``python -m fastnn demo`` (the main job) and ``python -m fastnn config``."""
import argparse
import os
import sys
import time


def _build_cnn(image_size):
    from fastnn import nn
    flat = 64 * (image_size // 4) * (image_size // 4)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def _load_data(path, quiet):
    """MNIST when it can be had (path, $FASTNN_DATA, cache, download); else scikit-learn's digits."""
    import numpy as np
    from fastnn import datasets
    try:
        (xtr, ytr), (xte, yte) = datasets.load_mnist(path)
        name = "MNIST"
        xtr = xtr.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
        xte = xte.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    except (OSError, ValueError) as e:
        if path is not None:
            raise
        if not quiet:
            print(f"{str(e).splitlines()[0]}\n"
                  "-> training on scikit-learn's 8x8 digits instead "
                  "(set FASTNN_DATA or pass --data PATH/mnist.npz for MNIST)")
        (xtr, ytr), (xte, yte) = datasets.load_digits()
        name = "digits (8x8)"
        xtr = np.asarray(xtr, np.float32).reshape(-1, 1, 8, 8)
        xte = np.asarray(xte, np.float32).reshape(-1, 1, 8, 8)
        if xtr.max() > 1.5:
            xtr, xte = xtr / 16.0, xte / 16.0
    return name, xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def demo(args):
    import fastnn
    from fastnn import nn, optim
    if args.threads:
        fastnn.set_num_threads(args.threads)
    print(f"fastnn {fastnn.__version__} | ISA {fastnn.get_isa()} | "
          f"{fastnn.get_num_threads()} threads")
    name, xtr, ytr, xte, yte = _load_data(args.data, quiet=False)
    epochs = args.epochs if args.epochs is not None else (3 if name == "MNIST" else 15)
    model = _build_cnn(xtr.shape[-1])
    print(f"data: {name}: {len(xtr)} training / {len(xte)} test images of "
          f"{xtr.shape[-2]}x{xtr.shape[-1]}; model: CNN, {sum(p.size for p in model.parameters()):,}"
          f" parameters; Adam(lr=1e-3), batch {args.batch_size}, {epochs} epochs")
    fastnn.manual_seed(args.seed)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=args.batch_size,
               epochs=epochs, verbose=1 if sys.stderr.isatty() or args.progress else 2,
               seed=args.seed)
    train_s = time.perf_counter() - t0
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(), xte, yte)
    out = args.output or os.path.join(os.getcwd(), "fastnn-demo-cnn.safetensors")
    fastnn.save(model, out)
    print(f"test accuracy: {100 * res['accuracy']:.2f}%  (loss {res['loss']:.4f})")
    print(f"training speed: {epochs * len(xtr) / train_s:,.0f} samples/s "
          f"({train_s:.1f} s for {epochs} epochs)")
    print(f"saved model: {out}  ({os.path.getsize(out) / 1e6:.2f} MB)")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    sub = p.add_subparsers(dest="cmd")
    d = sub.add_parser("demo", help="train the MNIST CNN (digits when MNIST is not available)")
    d.add_argument("--data", default=None, help="path to mnist.npz or a folder of IDX files")
    d.add_argument("--epochs", type=int, default=None)
    d.add_argument("--batch-size", type=int, default=64)
    d.add_argument("--threads", type=int, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--output", default=None, help="where to save the trained model")
    d.add_argument("--progress", action="store_true", help="progress bars even without a TTY")
    sub.add_parser("config", help="print the build and runtime configuration")
    args = p.parse_args(argv)
    if args.cmd == "demo":
        return demo(args)
    if args.cmd == "config":
        import fastnn
        fastnn.show_config()
        return 0
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
