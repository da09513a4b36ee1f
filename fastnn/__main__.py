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
    # Seed before anything draws random numbers: building the model draws its initial weights.
    fastnn.manual_seed(args.seed)
    print(f"fastnn {fastnn.__version__} | ISA {fastnn.get_isa()} | "
          f"{fastnn.get_num_threads()} threads")
    name, xtr, ytr, xte, yte = _load_data(args.data, quiet=False)
    epochs = args.epochs if args.epochs is not None else (3 if name == "MNIST" else 15)
    model = _build_cnn(xtr.shape[-1])
    print(f"data: {name}: {len(xtr)} training / {len(xte)} test images of "
          f"{xtr.shape[-2]}x{xtr.shape[-1]}; model: CNN, {sum(p.size for p in model.parameters()):,}"
          f" parameters; Adam(lr=1e-3), batch {args.batch_size}, {epochs} epochs")
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
    if not args.no_compress:
        _compress(model, xtr, ytr, xte, yte, res["accuracy"], out, args)
    return 0


def _infer_speed(fn, x, repeats=3):
    fn(x[:256])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def _compress(model, xtr, ytr, xte, yte, acc, out, args):
    """The efficient-inference half: int8 quantization and pruning of the trained model."""
    import numpy as np
    import fastnn
    from fastnn import nn, optim, prune, quant
    xs = xte[:2048]
    f_speed = _infer_speed(lambda x: fastnn.predict(model, x, batch_size=256), xs)
    # int8: calibrate on training images, compare accuracy, size and speed with float32
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", quant.QuantizationWarning)
        qm = quant.quantize(model, xtr[:2000], method="minmax")
    q_acc = float(np.mean(np.argmax(qm.predict(xte), axis=1) == yte))
    q_speed = _infer_speed(lambda x: qm.predict(x, batch_size=256), xs)
    q_out = out.replace(".safetensors", "-int8.safetensors")
    fastnn.save(qm, q_out)
    print(f"int8 (static, per-channel): accuracy {100 * q_acc:.2f}% "
          f"({100 * (q_acc - acc):+.2f} pp), inference {q_speed / f_speed:.1f}x float32 "
          f"({q_speed:,.0f} vs {f_speed:,.0f} samples/s at batch 256), file "
          f"{os.path.getsize(q_out) / os.path.getsize(out):.2f}x  -> {q_out}")
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
    d.add_argument("--no-compress", action="store_true",
                   help="skip the int8 quantization and pruning results")
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
