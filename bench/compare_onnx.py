"""fastnn on imported ONNX files against onnxruntime and PyTorch (issue 14's performance table).

    python bench/compare.py onnx [--threads 2] [--rounds 7] [--models cnn,resnet50] [--profile]

Models: the MNIST demo CNN and MLP (784-512-256-10) (their weights exported by
fastnn.onnx.export; fastnn runs the file as fastnn.onnx.load imports it, under fastnn.no_grad --
its compiled inference plan; PyTorch the same architecture with the same weights, under
torch.inference_mode) at batch 1 and 256,
and the model zoo's ResNet-50 (onnx/backend/test/data/light, random weights, as the tests do) at
batch 1 and 8 (PyTorch: the torchvision-style ResNet-50 written out below, random weights, same
shapes and multiply-adds up to the v1/v1.5 stride placement).

Each library runs in its own worker process (spinning threads of one library would otherwise
slow the next); the coordinator asks the workers in turn, one timed round each (A B C A B C ...),
with a pause between turns, so load drift hits all alike. Reported: the median and the best
round per library, ratios other / fastnn (> 1: fastnn faster) from the medians and from the
bests, and the load average before and after. --profile: onnxruntime's per-operator profile and
fastnn's per-op time (its inference plan's profiler) for ResNet-50 at batch 1.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


def _zoo(name):
    import onnx
    from tests.onnx.test_zoo import randomized
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"light_{name}.onnx")
    return randomized(onnx, path, np.random.default_rng(0))


def _torch_resnet50(torch):
    tnn = torch.nn

    class Bottleneck(tnn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.body = tnn.Sequential(
                tnn.Conv2d(cin, width, 1, bias=False), tnn.BatchNorm2d(width), tnn.ReLU(),
                tnn.Conv2d(width, width, 3, stride, 1, bias=False), tnn.BatchNorm2d(width),
                tnn.ReLU(), tnn.Conv2d(width, cout, 1, bias=False), tnn.BatchNorm2d(cout))
            self.short = None if stride == 1 and cin == cout else tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            s = x if self.short is None else self.short(x)
            return torch.relu(self.body(x) + s)

    layers = [tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(),
              tnn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
            cin = width * 4
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(2048, 1000),
               tnn.Softmax(dim=1)]
    return tnn.Sequential(*layers).eval()


def _prepare(workdir):
    """Write the ONNX files (and the CNN's weights for PyTorch) once; returns {model: path}."""
    import onnx
    import fastnn
    from fastnn import onnx as fonnx
    from compare_mnist import fastnn_cnn
    fastnn.manual_seed(0)
    cnn = fastnn_cnn()
    cnn.train()
    cnn(np.random.default_rng(0).standard_normal((64, 1, 28, 28)).astype(np.float32))
    cnn.eval()
    from compare_mnist import fastnn_mlp
    mlp = fastnn_mlp().eval()
    paths = {"cnn": os.path.join(workdir, "cnn.onnx"), "mlp": os.path.join(workdir, "mlp.onnx"),
             "resnet50": os.path.join(workdir, "resnet50.onnx")}
    fonnx.export(cnn, paths["cnn"], input_shape=(1, 28, 28))
    np.savez(os.path.join(workdir, "cnn_weights.npz"), **cnn.state_dict())
    fonnx.export(mlp, paths["mlp"], input_shape=(784,))
    np.savez(os.path.join(workdir, "mlp_weights.npz"), **mlp.state_dict())
    zoo = _zoo("resnet50")
    for v in list(zoo.graph.input) + list(zoo.graph.output):  # a free batch dimension
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del zoo.graph.value_info[:]
    inits = {t.name: t for t in zoo.graph.initializer}
    for n in zoo.graph.node:  # Reshape to a constant [1, ...]: 0 copies the batch dimension
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = onnx.numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                inits[n.input[1]].CopyFrom(onnx.numpy_helper.from_array(shape, n.input[1]))
    onnx.save(zoo, paths["resnet50"])
    return paths


def _runner(lib, model, path, batch, threads):
    """A zero-argument function running one inference of `model` at `batch` in `lib`."""
    shape = {"cnn": (1, 28, 28), "mlp": (784,)}.get(model, (3, 224, 224))
    x = np.random.default_rng(1).random((batch,) + shape).astype(np.float32)
    if lib == "fastnn":
        import fastnn
        from fastnn import onnx as fonnx
        fastnn.set_num_threads(threads)
        m = fonnx.load(path).eval()

        def run_fastnn():
            with fastnn.no_grad():  # inference, as torch.inference_mode: the compiled plan
                return m(x)
        return run_fastnn
    if lib == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.log_severity_level = 3
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        return lambda: sess.run(None, feed)
    import torch
    torch.set_num_threads(threads)
    if model in ("cnn", "mlp"):
        from compare_mnist import torch_model
        tm = torch_model(torch, model)
        w = np.load(os.path.join(os.path.dirname(path), f"{model}_weights.npz"))
        sd = {k: torch.from_numpy(np.array(w[k])) for k in w.files}
        if model == "mlp":  # the torch MLP starts with a Flatten: its layer indices shift by one
            sd = {f"{int(k.split('.')[0]) + 1}.{k.split('.', 1)[1]}": v for k, v in sd.items()}
        missing = tm.load_state_dict(sd, strict=False).missing_keys
        if [k for k in missing if "num_batches" not in k]:
            raise RuntimeError(f"torch {model}: weights not loaded: {missing}")
    else:
        tm = _torch_resnet50(torch)
    tm.eval()
    tx = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return tm(tx)
    return run


def worker(lib, model, path, batch, threads, min_time):
    """One library's worker process (timing.serve_rounds)."""
    from timing import serve_rounds
    serve_rounds(_runner(lib, model, path, batch, threads), min_time)


def _measure(libs, model, path, batch, threads, rounds, min_time):
    from timing import measure_workers
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    argvs = {lib: [sys.executable, __file__, "--worker", lib, model, path, str(batch),
                   str(threads), str(min_time)] for lib in libs}
    return measure_workers(argvs, rounds, env, pause=0.1)


def _profile(path, threads):
    """onnxruntime's per-operator totals and fastnn's per-layer times, ResNet-50 batch 1."""
    import onnxruntime as ort
    import fastnn
    from fastnn import onnx as fonnx
    x = np.random.default_rng(1).random((1, 3, 224, 224)).astype(np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    so.enable_profiling = True
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(10):
        sess.run(None, feed)
    prof = sess.end_profiling()
    by_op = {}
    with open(prof) as f:
        for ev in json.load(f):
            if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
                op = ev["args"].get("op_name", "?")
                by_op[op] = by_op.get(op, 0.0) + ev["dur"] / 10 / 1000.0
    os.remove(prof)
    fastnn.set_num_threads(threads)
    from fastnn.nn import _plan
    m = fonnx.load(path).eval()
    by_layer = {}
    rows = _plan.profile(m, x, rounds=10)
    if rows is None:
        raise RuntimeError("no inference plan covers the imported ResNet-50")
    for label, ms in rows:  # "path Type + path Type": grouped by the fused layer types
        kind = " + ".join(part.split()[-1] for part in label.split(" + "))
        by_layer[kind] = by_layer.get(kind, 0.0) + ms
    return by_op, by_layer


def main(argv):
    from timing import table
    ap = argparse.ArgumentParser(prog="compare.py onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--models", default="cnn,mlp,resnet50")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args(argv)
    cases = [("cnn", 1), ("cnn", 256), ("mlp", 1), ("mlp", 256), ("resnet50", 1),
             ("resnet50", 8)]
    cases = [c for c in cases if c[0] in a.models.split(",")]
    libs = ["fastnn", "onnxruntime", "torch"]
    with tempfile.TemporaryDirectory() as d:
        paths = _prepare(d)
        load0 = os.getloadavg()
        rows = []
        for model, batch in cases:
            r = _measure(libs, model, paths[model], batch, a.threads, a.rounds, a.min_time)
            f = r["fastnn"]
            rows.append([model, batch] + [f"{r[lib][0] * 1e3:.2f}/{r[lib][1] * 1e3:.2f}"
                                          for lib in libs] +
                        [f"{r[lib][0] / f[0]:.2f}/{r[lib][1] / f[1]:.2f}" for lib in libs[1:]])
        load1 = os.getloadavg()
        print(f"{a.threads} threads, {a.rounds} rounds, each library in its own process; "
              f"load average {load0[0]:.2f} -> {load1[0]:.2f}")
        print("times: median/best ms per batch; ratios: other / fastnn (> 1: fastnn faster), "
              "from medians/bests")
        print(table(["model", "batch", "fastnn ms", "onnxruntime ms", "torch ms",
                     "vs onnxruntime", "vs torch"], rows))
        if a.profile and "resnet50" in paths:
            by_op, by_layer = _profile(paths["resnet50"], a.threads)
            print("\nResNet-50 batch 1, onnxruntime per operator (ms):")
            print(table(["op", "ms"], [[k, f"{v:.2f}"] for k, v in
                                       sorted(by_op.items(), key=lambda kv: -kv[1])]))
            print("\nResNet-50 batch 1, fastnn per op of its inference plan, by fused layer "
                  "types (ms):")
            print(table(["layer", "ms"], [[k, f"{v:.2f}"] for k, v in
                                          sorted(by_layer.items(), key=lambda kv: -kv[1])]))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lib, model, path, batch, threads, min_time = sys.argv[2:8]
        worker(lib, model, path, int(batch), int(threads), float(min_time))
    else:
        sys.exit(main(sys.argv[1:]))
