"""CIFAR-10-shaped ResNet-20: training and inference, fastnn against PyTorch and onnxruntime
(issue 19).

    python bench/compare.py resnet20 [--threads 2] [--rounds 7] [--optim sgd|adam]
                                     [--min-time 1.0] [--only train|infer]

The model: ResNet-20 of He et al. 2016 (section 4.2) on 3x32x32 inputs: a 3x3 conv 3->16, then
3 stages x 3 basic blocks (conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU) at 16, 32 and 64
channels (the first block of stages 2 and 3 at stride 2), global average pooling, Linear(64, 10);
convolutions without bias. Shortcuts where the shape changes are option B (a strided 1x1 conv +
BN; the paper's CIFAR runs use option A, zero-padding, which fastnn has no layer for), so the
model has 0.27 M parameters. fastnn builds it as a graph model (nn.Input, layer calls, `+` adds an
nn.Add node); PyTorch as a Module with the same layer names, so one state_dict fits both.

Random data (no download): inputs standard normal, labels uniform over 10 classes, 4 batches
cycled; fixed seeds, the same in every process.

- train (batch 128, samples/s): a step is forward, cross-entropy, backward, optimizer step; SGD
  (lr 0.01, momentum 0.9, weight decay 5e-4; default) or Adam (lr 1e-3), the same for all.
  fastnn (its fused optimizer) vs PyTorch as users run it by default (NCHW, torch.optim's default
  per-tensor loop on CPU) and at its best (channels_last model and inputs, fused=True optimizer).
- infer (batch 64, samples/s): fastnn in eval mode under fastnn.no_grad() (its compiled inference
  plan); onnxruntime on the same weights exported with fastnn.onnx.export (CPU provider,
  ORT_ENABLE_ALL, session.intra_op.allow_spinning=0, intra_op_num_threads=threads, inter 1);
  PyTorch under torch.inference_mode, NCHW and channels_last.

Before timing, once: all sides start from the same weights (BN running statistics from a few
training-mode batches) and must compute the same function: fastnn's eval output (its inference
plan) against PyTorch's and onnxruntime's, the training-mode logits and loss against PyTorch's
(within 1e-4 of the largest value), and the gradients and parameter updates of one training
step against PyTorch in float64, where fastnn's error must be within 3x PyTorch float32's (the
backward through 19 batch norms on random data is ill-conditioned: float32 gradients of either
library are ~1% off; with Adam a gradient element at rounding level flips sign and its update
is +-lr in either library, so the update error is ~2 lr for both). The differences are printed,
and a mismatch stops the run.

Each library runs in its own worker process (spinning threads of one library would slow the
next); the coordinator asks the workers in turn, one timed round each (A B C A B C ...), with a
pause between turns. Reported: the median and the best round per library, ratios other / fastnn
(> 1: fastnn faster) from the medians and from the bests, the load average before and after.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

TRAIN_BATCH, INFER_BATCH, N_BATCHES, CLASSES = 128, 64, 4, 10
STAGES = ((16, 1), (32, 2), (64, 2))  # (channels, stride of the stage's first block)
BLOCKS = 3  # per stage: 6 * 3 + 2 = 20 weighted layers


def blocks():
    """(name, in channels, out channels, stride) of each basic block, in order."""
    out, cin = [], 16
    for s, (c, stride) in enumerate(STAGES, 1):
        for b in range(BLOCKS):
            out.append((f"s{s}b{b}", cin, c, stride if b == 0 else 1))
            cin = c
    return out


def fastnn_resnet20():
    from fastnn import nn

    def named(layer, name):
        layer.name = name  # nn.Model registers a layer under its str `name`
        return layer

    def conv_bn(h, name, cin, cout, k, stride):
        conv = named(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                     f"{name}_conv")
        return named(nn.BatchNorm2d(cout), f"{name}_bn")(conv(h))

    x = nn.Input((3, 32, 32), name="x")
    h = nn.ReLU()(conv_bn(x, "stem", 3, 16, 3, 1))
    for name, cin, cout, stride in blocks():
        r = nn.ReLU()(conv_bn(h, f"{name}_1", cin, cout, 3, stride))
        r = conv_bn(r, f"{name}_2", cout, cout, 3, 1)
        short = h if stride == 1 and cin == cout else conv_bn(h, f"{name}_sc", cin, cout, 1,
                                                              stride)
        h = nn.ReLU()(r + short)
    y = named(nn.Linear(64, CLASSES), "fc")(nn.GlobalAvgPool2d()(h))
    return nn.Model(x, y)


def torch_resnet20(torch):
    tnn = torch.nn

    class ResNet20(tnn.Module):
        def __init__(self):
            super().__init__()
            self._conv_bn("stem", 3, 16, 3, 1)
            for name, cin, cout, stride in blocks():
                self._conv_bn(f"{name}_1", cin, cout, 3, stride)
                self._conv_bn(f"{name}_2", cout, cout, 3, 1)
                if stride != 1 or cin != cout:
                    self._conv_bn(f"{name}_sc", cin, cout, 1, stride)
            self.fc = tnn.Linear(64, CLASSES)

        def _conv_bn(self, name, cin, cout, k, stride):
            self.add_module(f"{name}_conv", tnn.Conv2d(cin, cout, k, stride, k // 2, bias=False))
            self.add_module(f"{name}_bn", tnn.BatchNorm2d(cout))

        def _cb(self, name, h):
            return getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(h))

        def forward(self, x):
            relu = torch.relu
            h = relu(self._cb("stem", x))
            for name, cin, cout, stride in blocks():
                r = self._cb(f"{name}_2", relu(self._cb(f"{name}_1", h)))
                short = self._cb(f"{name}_sc", h) if stride != 1 or cin != cout else h
                h = relu(r + short)
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))

    return ResNet20()


def load_torch_weights(torch, tm, state):
    """A fastnn state_dict (name -> array) into the torch model; every tensor must be set."""
    res = tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                             strict=False)
    missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or res.unexpected_keys:
        raise RuntimeError(f"torch ResNet-20: weights not loaded: missing {missing}, "
                           f"unexpected {res.unexpected_keys}")


def data(batch, n=N_BATCHES, seed=1):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, 3, 32, 32)).astype(np.float32) for _ in range(n)]
    ys = [rng.integers(0, CLASSES, batch).astype(np.int64) for _ in range(n)]
    return xs, ys


def _fastnn_opt(model, kind):
    from fastnn import optim
    if kind == "adam":
        return optim.Adam(model.parameters(), lr=1e-3)
    return optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def _torch_opt(torch, model, kind, fused):
    extra = {"fused": True} if fused else {}
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=1e-3, **extra)
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, **extra)


def prepare(workdir):
    """The shared starting weights (BN statistics from 3 training-mode batches), the ONNX file."""
    import fastnn
    from fastnn import onnx as fonnx
    fastnn.manual_seed(0)
    m = fastnn_resnet20()
    m.train()
    for x in data(32, 3, seed=2)[0]:
        m(x)
    m.eval()
    np.savez(os.path.join(workdir, "weights.npz"), **m.state_dict())
    fonnx.export(m, os.path.join(workdir, "resnet20.onnx"))


def _fastnn_model(workdir):
    import fastnn  # noqa: F401
    m = fastnn_resnet20()
    w = np.load(os.path.join(workdir, "weights.npz"))
    m.load_state_dict({k: w[k] for k in w.files})
    return m


def _torch_model(torch, workdir):
    tm = torch_resnet20(torch)
    w = np.load(os.path.join(workdir, "weights.npz"))
    load_torch_weights(torch, tm, {k: w[k] for k in w.files})
    return tm


def _ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def check_same_function(workdir, optim_kind, threads):
    """Raise unless fastnn, PyTorch (and onnxruntime) compute the same function from the same
    weights; returns the maximum differences, relative to the reference's largest magnitude."""
    import fastnn
    import torch
    from fastnn import nn
    from fastnn.nn import _plan
    fastnn.set_num_threads(threads)
    torch.set_num_threads(threads)
    xs, ys = data(16, 1, seed=3)
    x, y = xs[0], ys[0]
    diffs = {}

    def rel(a, b):
        b = np.asarray(b)
        return float(np.abs(np.asarray(a) - b).max() / max(1e-6, float(np.abs(b).max())))

    fm, tm = _fastnn_model(workdir), _torch_model(torch, workdir)
    fm.eval()
    tm.eval()
    if _plan.profile(fm, x, rounds=1) is None:
        raise RuntimeError("fastnn's inference plan does not cover the ResNet-20 model")
    with fastnn.no_grad():
        fy = fm(x)
    with torch.inference_mode():
        ty = tm(torch.from_numpy(x)).numpy()
    diffs["eval: fastnn plan vs torch"] = rel(fy, ty)
    try:
        sess = _ort_session(os.path.join(workdir, "resnet20.onnx"), threads)
        oy = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        diffs["eval: fastnn plan vs onnxruntime"] = rel(fy, oy)
    except ImportError:
        pass
    # One training step from the same weights: logits (BN on batch statistics), loss, parameter
    # gradients and the parameters after the optimizer step. Backward through 19 batch norms on
    # random data is ill-conditioned (PyTorch float32 and float64 gradients differ by ~1% of the
    # largest), so gradients and updates are judged against PyTorch in float64: fastnn's error
    # must be within 3x (+ a floor) of PyTorch float32's.
    fm.train()
    fopt, floss = _fastnn_opt(fm, optim_kind), nn.CrossEntropyLoss()
    before = {name: p.data.copy() for name, p in fm.named_parameters()}
    fz = fm(x)
    fl = floss(fz, y)
    fopt.zero_grad()
    fm.backward(floss.backward())
    fgrad = {name: p.grad.copy() for name, p in fm.named_parameters()}
    fopt.step()
    fafter = {name: p.data for name, p in fm.named_parameters()}
    ref = {}
    for dtype in (torch.float32, torch.float64):
        tm = _torch_model(torch, workdir).to(dtype)
        tm.train()
        topt = _torch_opt(torch, tm, optim_kind, False)
        topt.zero_grad()
        tz = tm(torch.from_numpy(x).to(dtype))
        tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(y))
        tl.backward()
        grads = {n: p.grad.numpy().copy() for n, p in tm.named_parameters()}
        topt.step()
        ref[dtype] = (tz.detach().numpy(), tl.item(), grads,
                      {n: p.detach().numpy() for n, p in tm.named_parameters()})
    z32, l32, g32, p32 = ref[torch.float32]
    z64, l64, g64, p64 = ref[torch.float64]
    diffs["train: logits vs torch"] = rel(fz, z32)
    diffs["train: loss vs torch"] = rel(fl, l32)

    def worst(ours, theirs, scale):
        return max(float(np.abs(ours[n] - theirs[n]).max()) / max(1e-12, scale[n])
                   for n in theirs)

    gscale = {n: float(np.abs(g).max()) for n, g in g64.items()}
    uscale = {n: float(np.abs(p64[n] - before[n]).max()) for n in p64}
    for what, ours, f32, f64, scale in (("gradients", fgrad, g32, g64, gscale),
                                        ("updates", fafter, p32, p64, uscale)):
        err, terr = worst(ours, f64, scale), worst(f32, f64, scale)
        diffs[f"train: {what} vs torch float64 (torch float32: {terr:.1e})"] = err
        if err > 3 * terr + 1e-4:
            raise RuntimeError(f"fastnn's {what} after one training step are further from "
                               f"PyTorch float64's ({err:.2e}) than 3x PyTorch float32's "
                               f"({terr:.2e})")
    bad = {k: v for k, v in diffs.items() if k.startswith(("eval", "train: logits",
                                                           "train: loss")) and v > 1e-4}
    if bad:
        raise RuntimeError(f"fastnn and the reference compute different functions: {bad}")
    return diffs


def _runner(mode, lib, workdir, threads, optim_kind):
    """A zero-argument function: one training step or one inference batch of `lib`."""
    if mode == "train":
        xs, ys = data(TRAIN_BATCH)
        it = iter(range(1 << 62))
        if lib == "fastnn":
            import fastnn
            from fastnn import nn
            fastnn.set_num_threads(threads)
            m = _fastnn_model(workdir)
            m.train()
            opt, loss = _fastnn_opt(m, optim_kind), nn.CrossEntropyLoss()

            def step():
                i = next(it) % N_BATCHES
                loss(m(xs[i]), ys[i])
                opt.zero_grad()
                m.backward(loss.backward(), input_grad=False)  # as torch: no grad for data
                opt.step()
            return step
        import torch
        torch.set_num_threads(threads)
        best = lib == "torch best"
        tm = _torch_model(torch, workdir)
        txs = [torch.from_numpy(x) for x in xs]
        if best:
            tm = tm.to(memory_format=torch.channels_last)
            txs = [x.contiguous(memory_format=torch.channels_last) for x in txs]
        tys = [torch.from_numpy(y) for y in ys]
        tm.train()
        opt, loss = _torch_opt(torch, tm, optim_kind, best), torch.nn.CrossEntropyLoss()

        def tstep():
            i = next(it) % N_BATCHES
            opt.zero_grad()
            loss(tm(txs[i]), tys[i]).backward()
            opt.step()
        return tstep
    x = data(INFER_BATCH, 1)[0][0]
    if lib == "fastnn":
        import fastnn
        fastnn.set_num_threads(threads)
        m = _fastnn_model(workdir).eval()

        def infer():
            with fastnn.no_grad():  # eval + no_grad: the compiled inference plan
                return m(x)
        return infer
    if lib == "onnxruntime":
        sess = _ort_session(os.path.join(workdir, "resnet20.onnx"), threads)
        feed = {sess.get_inputs()[0].name: x}
        return lambda: sess.run(None, feed)
    import torch
    torch.set_num_threads(threads)
    tm = _torch_model(torch, workdir).eval()
    tx = torch.from_numpy(x)
    if lib == "torch channels_last":
        tm = tm.to(memory_format=torch.channels_last)
        tx = tx.contiguous(memory_format=torch.channels_last)

    def tinfer():
        with torch.inference_mode():
            return tm(tx)
    return tinfer


def worker(mode, lib, workdir, threads, min_time, optim_kind):
    """One library's worker process (timing.serve_rounds; two warm-up calls: a training step's
    first allocates the optimizer state)."""
    from timing import serve_rounds
    serve_rounds(_runner(mode, lib, workdir, threads, optim_kind), min_time, warmups=2)


def _measure(mode, libs, workdir, threads, rounds, min_time, optim_kind):
    from timing import measure_workers
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
    argvs = {lib: [sys.executable, __file__, "--worker", mode, lib, workdir, str(threads),
                   str(min_time), optim_kind] for lib in libs}
    return measure_workers(argvs, rounds, env, pause=0.2)


def main(argv):
    from timing import table
    ap = argparse.ArgumentParser(prog="compare.py resnet20",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="seconds per timed round (at least one call)")
    ap.add_argument("--optim", choices=("sgd", "adam"), default="sgd")
    ap.add_argument("--only", choices=("train", "infer"), default=None)
    a = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed (pip install fastnn[bench]); nothing to compare against")
        return 1
    try:
        import onnxruntime  # noqa: F401
        has_ort = True
    except ImportError:
        has_ort = False
        print("onnxruntime is not installed: its inference row is left out")
    import fastnn
    opt_name = ("SGD(lr 0.01, momentum 0.9, wd 5e-4)" if a.optim == "sgd"
                else "Adam(lr 1e-3)")
    with tempfile.TemporaryDirectory() as d:
        prepare(d)
        diffs = check_same_function(d, a.optim, a.threads)
        print("same function (max |difference| / max |reference|): " +
              ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
        cases = []
        if a.only in (None, "train"):
            cases.append(("train", TRAIN_BATCH, ["fastnn", "torch default", "torch best"]))
        if a.only in (None, "infer"):
            cases.append(("infer", INFER_BATCH, ["fastnn"] + (["onnxruntime"] if has_ort else [])
                          + ["torch", "torch channels_last"]))
        labels = {("train", "fastnn"): f"fastnn ({a.optim}, fused)",
                  ("train", "torch default"): f"torch default (NCHW, {a.optim} default loop)",
                  ("train", "torch best"): f"torch best (channels_last, {a.optim} fused=True)",
                  ("infer", "fastnn"): "fastnn (eval, no_grad: inference plan)",
                  ("infer", "onnxruntime"): "onnxruntime (fastnn.onnx.export, ORT_ENABLE_ALL)",
                  ("infer", "torch"): "torch (NCHW, inference_mode)",
                  ("infer", "torch channels_last"): "torch (channels_last, inference_mode)"}
        load0 = os.getloadavg()
        rows = []
        for mode, batch, libs in cases:
            r = _measure(mode, libs, d, a.threads, a.rounds, a.min_time, a.optim)
            f = r["fastnn"]
            for lib in libs:
                med, best = r[lib]
                rows.append([f"{mode} b{batch}", labels[(mode, lib)],
                             f"{med * 1e3:.1f}/{best * 1e3:.1f}",
                             f"{batch / med:,.0f}/{batch / best:,.0f}",
                             f"{med / f[0]:.2f}/{best / f[1]:.2f}"])
        load1 = os.getloadavg()
    print(f"ResNet-20 (CIFAR-10 shapes, option-B shortcuts, nn.Model with Add), fastnn "
          f"{fastnn.__version__} ({fastnn.get_isa()}), torch {torch.__version__}, {a.threads} "
          f"threads, {a.rounds} rounds, each library in its own process; optimizer {opt_name}; "
          f"load average {load0[0]:.2f} -> {load1[0]:.2f}")
    print("median/best round; ratio = other's time / fastnn's (> 1: fastnn faster)")
    print(table(["what", "who", "ms per batch", "samples/s", "time vs fastnn"], rows))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        mode, lib, workdir, threads, min_time, optim_kind = sys.argv[2:8]
        worker(mode, lib, workdir, int(threads), float(min_time), optim_kind)
    else:
        sys.exit(main(sys.argv[1:]))
