"""The ``pytorch-converted`` and ``pytorch-operator`` cases of onnx's backend test data as a
conformance table: each case either loads and matches its reference outputs, or is refused by
``fastnn.onnx.load`` with a ValueError naming what is missing. Used by tests/onnx/test_zoo.py and
bench/onnx_conformance.py (which prints the table)."""
import glob
import os

import numpy as np

SUITES = ("pytorch-converted", "pytorch-operator")


def cases(onnx):
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    return sorted(d for s in SUITES for d in glob.glob(os.path.join(root, s, "test_*"))
                  if os.path.isfile(os.path.join(d, "model.onnx")))


def _tensors(onnx, folder, prefix):
    numpy_helper = onnx.numpy_helper
    out = []
    for k in range(64):
        p = os.path.join(folder, f"{prefix}_{k}.pb")
        if not os.path.isfile(p):
            break
        t = onnx.TensorProto()
        with open(p, "rb") as f:
            t.ParseFromString(f.read())
        out.append(numpy_helper.to_array(t))
    return out


def run_case(onnx, case):
    """("pass" | "unsupported" | "mismatch", detail) for one case folder."""
    from fastnn import onnx as fonnx
    try:
        model = fonnx.load(os.path.join(case, "model.onnx"))
    except ValueError as e:
        return "unsupported", str(e).replace("fastnn.onnx.load: ", "")
    model.eval()
    for ds in sorted(glob.glob(os.path.join(case, "test_data_set_*"))):
        xs, want = _tensors(onnx, ds, "input"), _tensors(onnx, ds, "output")
        try:
            got = model(*xs)
        except (ValueError, TypeError) as e:
            return "mismatch", f"forward raised {type(e).__name__}: {e}"
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want):
            g = np.asarray(g)
            if g.shape != w.shape:
                return "mismatch", f"shape {g.shape} != {w.shape}"
            # NaN where the reference has NaN (sqrt or pow of a negative input) is a match
            tol = 1e-4 * max(1.0, float(np.nanmax(np.abs(w), initial=0.0)))
            if not np.allclose(g, w, rtol=1e-3, atol=tol, equal_nan=True):
                return "mismatch", f"max abs diff {np.abs(g - w).max():.3g}"
    return "pass", ""
