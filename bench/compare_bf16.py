"""bf16 mixed-precision inference (Module.to_bf16()) against float32, side by side in one run.

    python bench/compare.py bf16 [SECTION ...] [--threads 1,2] [--quick] [--rounds N]

Sections (default: all):
  gemm    fastnn.ops.matmul in float32 and with bf16=True (both operands rounded to bfloat16,
          float32 sums) on the MLP / CNN / square shapes: with the AMX tiles (where the CPU has
          them) and without (VDPBF16PS where it has avx512_bf16, else the emulation). GFLOP/s =
          2*m*n*k / s, interleaved rounds, median and best.
  models  the MNIST MLP and CNN (bench/quant_models.py: trained once, cached): test accuracy in
          float32 and bf16, how many argmax decisions change, the largest logit difference
          relative to the largest logit; samples/s at batch 1 and 256 (float32 and bf16 timed in
          turn in one process: one library, no spinning threads of another). Skipped when MNIST
          is absent.
  resnet  the CIFAR-shaped ResNet-20 (bench/compare_resnet20.py, random weights, eval mode):
          relative output difference and images/s at batch 64.
  resnet50 the onnx package's ResNet-50 (bench/compare_onnx.py, random weights) through
          fastnn.onnx.load: relative output difference and ms per batch of 1 and 8 (needs
          fastnn[onnx]).
All in one process, fastnn only. The load average is printed with each table.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import fastnn  # noqa: E402
from fastnn import _C  # noqa: E402
from timing import table, time_interleaved  # noqa: E402

GEMM_SHAPES = [(1024, 1024, 1024, "square"), (256, 784, 512, "MLP fc1, batch 256"),
               (256, 512, 256, "MLP fc2, batch 256"), (1, 784, 512, "MLP fc1, batch 1"),
               (16, 784, 512, "MLP fc1, batch 16"), (64, 288, 12544, "CNN conv2 as W @ col")]


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _with_amx(mode, fn):
    def run():
        prev = _C.bf16_set_amx(mode)
        try:
            return fn()
        finally:
            _C.bf16_set_amx(prev)
    return run


def gemm(args):
    cfg = _C.gemm_config()
    amx = cfg["bf16_amx_usable"]
    print(f"\n## bf16 GEMM ({cfg['bf16_kernel']}; AMX bf16 tiles: {'yes' if amx else 'no'})")
    for nt in args.threads:
        fastnn.set_num_threads(nt)
        rows = []
        for m, k, n, label in GEMM_SHAPES[: 3 if args.quick else None]:
            rng = np.random.default_rng(0)
            a = rng.standard_normal((m, k)).astype(np.float32)
            w = rng.standard_normal((n, k)).astype(np.float32)  # a Linear's weight: a @ w.T
            fns = [lambda: _C.matmul(a, w, trans_b=True),
                   _with_amx("off", lambda: _C.matmul(a, w, trans_b=True, bf16=True))]
            if amx:
                fns.append(_with_amx("on", lambda: _C.matmul(a, w, trans_b=True, bf16=True)))
            med, best = time_interleaved(fns, rounds=args.rounds, min_time=0.1)
            gf = lambda t: 2.0 * m * n * k / t / 1e9  # noqa: E731
            row = [f"{m}x{k}x{n}", label, f"{gf(med[0]):.0f} / {gf(best[0]):.0f}",
                   f"{gf(med[1]):.0f} / {gf(best[1]):.0f}", f"{med[0] / med[1]:.2f}x"]
            if amx:
                row += [f"{gf(med[2]):.0f} / {gf(best[2]):.0f}", f"{med[0] / med[2]:.2f}x"]
            rows.append(row)
        heads = ["m x k x n", "shape", "f32 GF/s med/best", "bf16 no-AMX", "vs f32"]
        if amx:
            heads += ["bf16 AMX", "vs f32"]
        print(f"\n{nt} thread(s), {load()}")
        print(table(heads, rows))


def _compare_outputs(model, x, bs=1000):
    with fastnn.no_grad():
        model.to_float()
        f = np.concatenate([model(x[i:i + bs]) for i in range(0, len(x), bs)])
        model.to_bf16()
        b = np.concatenate([model(x[i:i + bs]) for i in range(0, len(x), bs)])
        model.to_float()
    return f, b


def _speed(model, x, batch, rounds):
    xb = np.ascontiguousarray(x[:batch])
    # One model switched between the two modes would rebuild its plan at every switch: two
    # copies instead, one in each mode.
    import copy

    m32, m16 = model, copy.deepcopy(model).to_bf16()

    def f32():
        with fastnn.no_grad():
            m32(xb)

    def b16():
        with fastnn.no_grad():
            m16(xb)
    med, best = time_interleaved([f32, b16], rounds=rounds, min_time=0.2)
    return med, best


def models(args):
    from quant_models import find_mnist, trained
    path = find_mnist(args.data)
    if path is None:
        print("\n## models: skipped (MNIST not found; --data PATH or FASTNN_DATA)")
        return
    d = np.load(path)
    xtr = (d["x_train"].astype(np.float32) / 255.0)
    xte = (d["x_test"].astype(np.float32) / 255.0)
    ytr, yte = d["y_train"].astype(np.int64), d["y_test"].astype(np.int64)
    print(f"\n## MNIST models: accuracy and speed, float32 vs bf16 ({load()})")
    acc_rows, speed_rows = [], []
    for kind in ("mlp", "cnn"):
        shape = (-1, 784) if kind == "mlp" else (-1, 1, 28, 28)
        model = trained(kind, xtr.reshape(shape), ytr, 1, print).eval()
        x = xte.reshape(shape)
        f, b = _compare_outputs(model, x)
        acc_rows.append([kind.upper(), f"{(f.argmax(1) == yte).mean() * 100:.2f}%",
                         f"{(b.argmax(1) == yte).mean() * 100:.2f}%",
                         f"{int((f.argmax(1) != b.argmax(1)).sum())} / {len(yte)}",
                         f"{np.abs(f - b).max() / np.abs(f).max():.2e}"])
        for nt in args.threads:
            fastnn.set_num_threads(nt)
            for batch in (1, 256):
                med, best = _speed(model, x, batch, args.rounds)
                sps = lambda t: batch / t  # noqa: E731
                speed_rows.append([kind.upper(), nt, batch,
                                   f"{sps(med[0]):,.0f} / {sps(best[0]):,.0f}",
                                   f"{sps(med[1]):,.0f} / {sps(best[1]):,.0f}",
                                   f"{med[0] / med[1]:.2f}x / {best[0] / best[1]:.2f}x"])
    print(table(["model", "f32 accuracy", "bf16 accuracy", "argmax changed",
                 "max |dlogit| / max |logit|"], acc_rows))
    print(f"\nsamples/s, median / best round ({load()})")
    print(table(["model", "threads", "batch", "f32", "bf16", "bf16 speed-up med / best"],
                speed_rows))


def resnet(args):
    from compare_resnet20 import fastnn_resnet20
    fastnn.manual_seed(0)
    model = fastnn_resnet20().eval()
    x = np.random.default_rng(0).standard_normal((64, 3, 32, 32)).astype(np.float32)
    f, b = _compare_outputs(model, x, bs=64)
    print(f"\n## ResNet-20 (random weights), batch 64 ({load()})")
    print(f"max |dout| / max |out|: {np.abs(f - b).max() / np.abs(f).max():.2e}; "
          f"argmax changed: {int((f.argmax(1) != b.argmax(1)).sum())} / 64")
    rows = []
    for nt in args.threads:
        fastnn.set_num_threads(nt)
        med, best = _speed(model, x, 64, args.rounds)
        rows.append([nt, f"{64 / med[0]:,.0f} / {64 / best[0]:,.0f}",
                     f"{64 / med[1]:,.0f} / {64 / best[1]:,.0f}", f"{med[0] / med[1]:.2f}x"])
    print(table(["threads", "f32 images/s med/best", "bf16", "bf16 speed-up (med)"], rows))


def resnet50(args):
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("\n## ResNet-50: skipped (pip install fastnn[onnx])")
        return
    import tempfile
    from compare_onnx import _prepare
    from fastnn import onnx as fonnx
    with tempfile.TemporaryDirectory() as d:
        model = fonnx.load(_prepare(d)["resnet50"]).eval()
    print(f"\n## ResNet-50 (the onnx zoo file, random weights) ({load()})")
    rows = []
    for batch in (1, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        f, b = _compare_outputs(model, x, bs=batch)
        for nt in args.threads:
            fastnn.set_num_threads(nt)
            med, best = _speed(model, x, batch, max(3, args.rounds // 2))
            rows.append([batch, nt, f"{np.abs(f - b).max() / np.abs(f).max():.2e}",
                         f"{med[0] * 1e3:.1f} / {best[0] * 1e3:.1f}",
                         f"{med[1] * 1e3:.1f} / {best[1] * 1e3:.1f}", f"{med[0] / med[1]:.2f}x"])
    print(table(["batch", "threads", "max |dout| / max |out|", "f32 ms med/best", "bf16 ms",
                 "bf16 speed-up (med)"], rows))


SECTIONS = {"gemm": gemm, "models": models, "resnet": resnet, "resnet50": resnet50}


def main(argv):
    p = argparse.ArgumentParser(prog="compare.py bf16", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="*", help="one or more of: " + ", ".join(SECTIONS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        args.rounds = 3
    bad = [s for s in args.sections if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {bad}; expected some of {sorted(SECTIONS)}")
    for name in args.sections or list(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    main(sys.argv[1:])
