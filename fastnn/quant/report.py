"""``report(model, qmodel, x, y)``: float versus int8, layer by layer and as a whole."""
import time

import numpy as np

from fastnn import get_num_threads
from fastnn.quant import stages as st
from fastnn.quant.build import _build_ops, _rel_error
from fastnn.quant.model import QuantizedModel

__all__ = ["report"]


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot or scores
        y = y.argmax(1)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y: expected {n} class labels (shape ({n},)) or one-hot rows "
                         f"(shape ({n}, C)), got shape {np.shape(y)}")
    return y


def _best_time(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _fmt(v, scale=1.0, spec=".3f"):
    return "-" if v is None else format(v * scale, spec)


def report(model, qmodel, x, y=None, *, batch_size=256, max_layer_samples=1024, repeats=5,
           verbose=True):
    """Compare the float ``model`` with its quantized ``qmodel`` on inputs ``x`` (labels ``y``
    optional) and return a dict; prints a table when ``verbose``.

    - ``layers``: per layer: status (int8 / float / removed), ``error``: relative output error
      of the int8 pipeline against the float model at that layer, on the first
      ``max_layer_samples`` samples (errors accumulate along the pipeline), ``calibration_error``:
      the layer alone on calibration data (from quantize), ``time_int8`` / ``time_float``: best
      seconds per batch of ``batch_size`` for that layer (int8 stage on its uint8 input, float
      layer on its float input).
    - ``accuracy_float`` / ``accuracy_int8`` (argmax against ``y``), ``agreement``: fraction of
      samples where both predict the same class.
    - ``size_float_bytes`` (parameters and buffers), ``size_int8_bytes`` (int8 weights, scales,
      biases, float layers), ``size_ratio``.
    - ``samples_per_s_float`` / ``samples_per_s_int8`` / ``speedup``: whole-model inference at
      batch ``batch_size``, best of ``repeats`` interleaved runs, ``threads`` threads.
    """
    if not isinstance(qmodel, QuantizedModel):
        raise TypeError(f"qmodel: expected a QuantizedModel, got {type(qmodel).__name__}")
    x = qmodel._check_input(x)
    if len(x) == 0:
        raise ValueError(f"x: expected at least one sample, got shape {x.shape}")
    was_training = model.training
    model.eval()
    try:
        ops, _ = _build_ops(model)
        xs = x[:max_layer_samples]
        acts = [xs]
        for op in ops:
            acts.append(op.forward(acts[-1]))
        if len(ops) != 1 + max([s.op_end for s in qmodel.stages if s.op_end is not None],
                               default=-1):
            raise ValueError("model: its layers do not match qmodel's (quantized from another "
                             "model?)")
        layer = {}
        xb = x[:batch_size]
        t_q, t_b = xs, xb
        def run_float(i, j, x):
            for op in ops[i:j + 1]:
                x = op.forward(x)
            return x

        for s in qmodel.stages:
            i, j = s.op_index, s.op_end
            if i is not None:
                tq = _best_time(lambda: s.run(t_b), repeats)
                fin = acts[i][:batch_size]
                if len(fin) < len(xb):  # the layer inputs were computed on fewer samples
                    fin = None
                tf = _best_time(lambda: run_float(i, j, fin), repeats) \
                    if fin is not None else None
            t_q, t_b = s.run(t_q), s.run(t_b)
            if i is None:
                continue
            out = t_q if s.out_q is None else st.to_float(t_q, s.out_q, s.out_layout)
            err = _rel_error(out, acts[j + 1])
            layer[i] = {"error": err, "time_int8": tq, "time_float": tf}
            if j != i:  # a pooling fused into the convolution: its time is in the conv's row
                layer[j] = {"error": err, "time_int8": None, "time_float": None}
        rows = []
        for r in qmodel.layers:
            row = {"name": r["name"], "type": r["type"], "status": r["status"],
                   "reason": r.get("reason"), "calibration_error": r.get("error"),
                   "error": None, "time_int8": None, "time_float": None}
            idx = next((i for i, op in enumerate(ops) if op.name == r["name"]), None)
            if idx is not None and idx in layer:
                row.update(layer[idx])
                if r["status"] != "int8":
                    row["time_int8"] = None
            rows.append(row)

        out = {"layers": rows, "threads": get_num_threads(), "batch_size": len(xb)}
        qpred = qmodel.predict(x, batch_size=batch_size)
        fpred = np.concatenate([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        out["max_abs_output_diff"] = float(np.abs(qpred - fpred).max())
        if fpred.ndim == 2 and fpred.shape[1] > 1:
            fc, qc = fpred.argmax(1), qpred.argmax(1)
            out["agreement"] = float((fc == qc).mean())
            if y is not None:
                labels = _labels(y, len(x))
                out["accuracy_float"] = float((fc == labels).mean())
                out["accuracy_int8"] = float((qc == labels).mean())
        fbytes = sum(v.nbytes for v in model.state_dict().values())
        qbytes = qmodel.nbytes()
        out.update(size_float_bytes=fbytes, size_int8_bytes=qbytes, size_ratio=qbytes / fbytes)
        tq, tf = [], []
        qmodel.predict(xb), model(xb)
        for _ in range(repeats):
            t0 = time.perf_counter()
            qmodel.predict(xb)
            tq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model(xb)
            tf.append(time.perf_counter() - t0)
        out["samples_per_s_int8"] = len(xb) / min(tq)
        out["samples_per_s_float"] = len(xb) / min(tf)
        out["speedup"] = min(tf) / min(tq)
    finally:
        model.train(was_training)
    if verbose:
        print(format_report(out))
    return out


def format_report(r):
    """The table ``report`` prints, from its dict."""
    head = ["layer", "type", "status", "err %", "calib err %", "int8 ms", "float ms"]
    body = [[row["name"], row["type"], row["status"], _fmt(row["error"], 100, ".2f"),
             _fmt(row["calibration_error"], 100, ".2f"), _fmt(row["time_int8"], 1e3),
             _fmt(row["time_float"], 1e3)] for row in r["layers"]]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*map(str, b)) for b in body]
    notes = [f"{row['name']}: {row['reason']}" for row in r["layers"]
             if row["status"] != "int8" and row.get("reason")]
    if notes:
        lines.append("not int8: " + "; ".join(notes))
    if "accuracy_float" in r:
        lines.append(f"accuracy: float {100 * r['accuracy_float']:.2f}%  int8 "
                     f"{100 * r['accuracy_int8']:.2f}%  "
                     f"(diff {100 * (r['accuracy_int8'] - r['accuracy_float']):+.2f} pp)")
    if "agreement" in r:
        lines.append(f"same prediction: {100 * r['agreement']:.2f}% of samples")
    lines.append(f"size: float {r['size_float_bytes'] / 1024:.1f} KiB  int8 "
                 f"{r['size_int8_bytes'] / 1024:.1f} KiB  (ratio {r['size_ratio']:.3f})")
    lines.append(f"speed (batch {r['batch_size']}, {r['threads']} threads): float "
                 f"{r['samples_per_s_float']:.0f} samples/s  int8 {r['samples_per_s_int8']:.0f} "
                 f"samples/s  (x{r['speedup']:.2f})")
    return "\n".join(lines)
