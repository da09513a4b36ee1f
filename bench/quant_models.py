"""The `models` section of `python bench/compare.py quant`: quantized MNIST MLP and CNN against
fastnn float32, onnxruntime int8 (MLP) and PyTorch static int8 (CNN), same weights, same run.

- MLP 784-512-256-10 and CNN conv(1->32,3,pad1)-BN-ReLU-maxpool2 -> conv(32->64,3,pad1)-BN-ReLU-
  maxpool2 -> Linear(3136->128)-ReLU-Dropout(0.25) -> Linear(128->10), trained with fastnn.fit
  (Adam 1e-3, --epochs) on MNIST, cached in fastnn.datasets.cache_dir() (bench_quant_*.fnn).
- fastnn.quant.quantize with --calib training images as calibration data (--method).
- Accuracy on the 10k test images, float32 vs int8.
- Whole-model inference samples/s at batch 256, interleaved rounds (bench/timing.py discipline;
  --clock cpu times 1-thread rows on the thread's CPU clock).
- onnxruntime: the same float weights exported with onnx.helper (MatMul + Add + Relu), then
  onnxruntime.quantization.quantize_static (QDQ, per-channel int8 weights, uint8 activations,
  MinMax calibration on the same images). PyTorch: torch.ao.quantization eager mode, x86 engine,
  conv+bn+relu / linear+relu fused, default x86 qconfig (per-channel weights), same images.
- File size: fastnn.save of the int8 model over fastnn.save of the float model.
"""
import os
import tempfile
import warnings

import numpy as np

import fastnn
from fastnn import nn, optim
from fastnn.quant import QuantizationWarning, quantize

MNIST_CANDIDATES = ["/work/shared/data/mnist.npz"]


def find_mnist(explicit=None):
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [explicit, os.environ.get("FASTNN_DATA")] + \
        [os.path.join(here, "..", "..", "shared", "data", "mnist.npz"),
         os.path.join(here, "..", "..", "..", "shared", "data", "mnist.npz")] + MNIST_CANDIDATES
    for c in cands:
        if c and os.path.isfile(c):
            return c
    return None


def build_mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def build_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(128, 10))


def trained(kind, x, y, epochs, log):
    """The cached trained model, or train it (Adam 1e-3, batch 128) and cache it."""
    path = fastnn.datasets.cache_dir() / f"bench_quant_{kind}_e{epochs}.fnn"
    if path.exists():
        try:
            return fastnn.load(path).eval()
        except ValueError:
            pass
    fastnn.manual_seed(0)
    model = build_mlp() if kind == "mlp" else build_cnn()
    log(f"training the {kind.upper()} ({epochs} epoch(s), Adam 1e-3) ...")
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), x, y,
               epochs=epochs, batch_size=128, verbose=0, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fastnn.save(model.eval(), path)
    return model.eval()


def accuracy(pred_fn, x, y, bs=1000):
    out = np.concatenate([pred_fn(x[i:i + bs]) for i in range(0, len(x), bs)])
    return float((out.argmax(1) == y).mean())


def file_ratio(model, qmodel):
    with tempfile.TemporaryDirectory() as d:
        f, q = os.path.join(d, "f.fnn"), os.path.join(d, "q.fnn")
        fastnn.save(model, f)
        fastnn.save(qmodel, q)
        return os.path.getsize(q) / os.path.getsize(f), os.path.getsize(f), os.path.getsize(q)


# -- onnxruntime (MLP) -----------------------------------------------------------------------------
def ort_int8_mlp(model, calib, tmpdir):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime import quantization as oq
    linears = [m for m in model if isinstance(m, nn.Linear)]
    nodes, inits, prev = [], [], "x"
    for i, lin in enumerate(linears):
        inits += [numpy_helper.from_array(np.ascontiguousarray(lin.weight.data.T), f"W{i}"),
                  numpy_helper.from_array(lin.bias.data.copy(), f"b{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"])]
        prev = f"add{i}"
        if i + 1 < len(linears):
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i}"]))
            prev = f"relu{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 784])], [helper.make_tensor_value_info(
            prev, TensorProto.FLOAT, ["N", 10])], inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8  # what onnxruntime reads (the onnx package writes a newer one)
    f32_path, q_path = os.path.join(tmpdir, "mlp.onnx"), os.path.join(tmpdir, "mlp_int8.onnx")
    onnx.save(onnx_model, f32_path)

    class Reader(oq.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": calib[i:i + 256]} for i in range(0, len(calib), 256)])

        def get_next(self):
            return next(self.it, None)

    oq.quantize_static(f32_path, q_path, Reader(), quant_format=oq.QuantFormat.QDQ,
                       per_channel=True, activation_type=oq.QuantType.QUInt8,
                       weight_type=oq.QuantType.QInt8,
                       extra_options={"QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}})
    return q_path


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return lambda xb: sess.run(None, {"x": xb})[0]


# -- PyTorch static int8 (CNN) -------------------------------------------------------------------
def torch_int8_cnn(model, calib):
    import torch
    from torch.ao import quantization as tq

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv1, self.bn1 = torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.BatchNorm2d(32)
            self.conv2, self.bn2 = torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64)
            self.relu1, self.relu2, self.relu3 = (torch.nn.ReLU() for _ in range(3))
            self.pool1, self.pool2 = torch.nn.MaxPool2d(2), torch.nn.MaxPool2d(2)
            self.fc1, self.fc2 = torch.nn.Linear(3136, 128), torch.nn.Linear(128, 10)
            self.drop = torch.nn.Dropout(0.25)

        def forward(self, x):
            x = self.quant(x)
            x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
            x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
            x = self.drop(self.relu3(self.fc1(torch.flatten(x, 1))))
            return self.dequant(self.fc2(x))

    net = Net().eval()
    names = {"0": "conv1", "1": "bn1", "4": "conv2", "5": "bn2", "9": "fc1", "12": "fc2"}
    sd = {}
    for k, v in model.state_dict().items():
        idx, rest = k.split(".", 1)
        sd[f"{names[idx]}.{rest}"] = torch.from_numpy(v.copy())
    net.load_state_dict(sd, strict=False)  # num_batches_tracked stays at its default
    torch.backends.quantized.engine = "x86"
    net.qconfig = tq.get_default_qconfig("x86")
    fused = tq.fuse_modules(net, [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"],
                                  ["fc1", "relu3"]])
    prepared = tq.prepare(fused)
    with torch.inference_mode():
        for i in range(0, len(calib), 256):
            prepared(torch.from_numpy(calib[i:i + 256]))
    qnet = tq.convert(prepared)

    def run(xb):
        with torch.inference_mode():
            return qnet(torch.from_numpy(xb)).numpy()
    return run


def _fmt_rate(t, bs):
    return f"{bs / t:,.0f}"


def bench_models(args, time_group, table):
    log = print
    path = find_mnist(getattr(args, "mnist", None))
    if path is None:
        print("models: MNIST not found (give --mnist PATH or set FASTNN_DATA); section skipped")
        return
    (xtr, ytr), (xte, yte) = fastnn.datasets.load_mnist(path)
    xtr = (xtr.astype(np.float32) / 255.0)
    xte = (xte.astype(np.float32) / 255.0)
    ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
    rng = np.random.default_rng(0)
    calib_idx = rng.choice(len(xtr), args.calib, replace=False)
    kinds = [k for k in ("mlp", "cnn") if k in args.models]
    if "cnn" in kinds and not hasattr(nn, "Conv2d"):
        print("models: fastnn.nn.Conv2d not available in this build; CNN skipped")
        kinds.remove("cnn")
    bs = 256
    acc_rows, speed_rows, size_rows = [], [], []
    for kind in kinds:
        shape = (-1, 784) if kind == "mlp" else (-1, 1, 28, 28)
        xtr_k, xte_k = xtr.reshape(shape), xte.reshape(shape)
        model = trained(kind, xtr_k, ytr, args.epochs, log)
        calib = np.ascontiguousarray(xtr_k[calib_idx])
        fastnn.set_num_threads(max(args.threads))
        with warnings.catch_warnings(record=True) as wrec:
            warnings.simplefilter("always", QuantizationWarning)
            qmodel = quantize(model, calib, method=args.method)
        for w in wrec:
            log(f"  {w.message}")
        log(repr(qmodel))
        acc_f = accuracy(model, xte_k, yte)
        acc_q = accuracy(qmodel, xte_k, yte)
        diff = 100 * (acc_q - acc_f)
        acc_rows.append([kind.upper(), f"{100 * acc_f:.2f}", f"{100 * acc_q:.2f}", f"{diff:+.2f}",
                         "<=0.3 pp " + ("met" if abs(diff) <= 0.3 else "MISSED")])
        ratio, fb, qb = file_ratio(model, qmodel)
        size_rows.append([kind.upper(), f"{fb / 1024:.0f}", f"{qb / 1024:.0f}", f"{ratio:.3f}",
                          "<=0.3 " + ("met" if ratio <= 0.3 else "MISSED")])
        xb = np.ascontiguousarray(xte_k[:bs])
        with tempfile.TemporaryDirectory() as tmpdir:
            other_name, other_target = None, None
            if kind == "mlp":
                try:
                    qpath = ort_int8_mlp(model, calib, tmpdir)
                    other_name, other_target = "onnxruntime int8", 1.0
                except Exception as e:  # noqa: BLE001 - report and go on
                    log(f"  onnxruntime int8 unavailable: {e}")
            else:
                try:
                    other = torch_int8_cnn(model, calib)
                    other_name, other_target = "PyTorch int8 (x86)", 1.0
                    acc_o = accuracy(other, xte_k, yte)
                    log(f"  PyTorch int8 CNN accuracy {100 * acc_o:.2f}%")
                except Exception as e:  # noqa: BLE001
                    log(f"  PyTorch int8 unavailable: {e}")
            if kind == "mlp" and other_name:
                acc_o = accuracy(ort_session(qpath, 1), xte_k, yte)
                log(f"  onnxruntime int8 MLP accuracy {100 * acc_o:.2f}%")
            for nt in args.threads:
                fastnn.set_num_threads(nt)
                fns = [lambda: model(xb), lambda: qmodel(xb)]
                if other_name and kind == "mlp":
                    sess = ort_session(qpath, nt)
                    fns.append(lambda: sess(xb))
                elif other_name:
                    import torch
                    torch.set_num_threads(nt)
                    fns.append(lambda: other(xb))
                clock = "cpu" if args.clock == "cpu" and nt == 1 else "wall"
                times = time_group(fns, rounds=args.rounds, min_time=args.min_time, clock=clock)
                tf, tq = times[0], times[1]
                target_f = 2.5 if kind == "mlp" else 2.0
                row = [kind.upper(), f"{nt} {clock}", _fmt_rate(tf, bs), _fmt_rate(tq, bs),
                       f"{tf / tq:.2f}x", f">={target_f}x " + ("met" if tf / tq >= target_f
                                                              else "MISSED")]
                if len(times) > 2:
                    to = times[2]
                    row += [other_name, _fmt_rate(to, bs), f"{to / tq:.2f}x",
                            f">={other_target}x " + ("met" if to / tq >= other_target
                                                     else "MISSED")]
                else:
                    row += ["-", "-", "-", "-"]
                speed_rows.append(row)
    print("\naccuracy on the 10k MNIST test images")
    print(table(["model", "float32 %", "int8 %", "diff pp", "target"], acc_rows))
    print(f"\nwhole-model inference, batch {bs}, samples/s (same threads, same run, interleaved)")
    print(table(["model", "thr clock", "fastnn f32", "fastnn int8", "int8/f32", "target",
                 "other", "other s/s", "int8/other", "target"], speed_rows))
    print("\nmodel files (fastnn.save)")
    print(table(["model", "float32 KiB", "int8 KiB", "ratio", "target"], size_rows))
