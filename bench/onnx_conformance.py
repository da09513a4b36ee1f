"""Conformance table: onnx's pytorch-converted and pytorch-operator backend cases through
fastnn.onnx.load (pass / unsupported with the reason / mismatch). With --zoo: every model of
backend/test/data/light (random weights) against onnxruntime, VGG-19 included. Run from the
repository root: python bench/onnx_conformance.py [--zoo]"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import onnx  # noqa: E402

import numpy as np  # noqa: E402

from fastnn import onnx as fonnx  # noqa: E402
from tests.onnx.conformance import cases, run_case  # noqa: E402


def zoo():
    import onnxruntime as ort
    from tests.onnx.test_zoo import randomized
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    for path in sorted(glob.glob(os.path.join(folder, "*.onnx"))):
        rng = np.random.default_rng(0)
        m = randomized(onnx, path, rng)
        try:
            model = fonnx.load(m).eval()
        except ValueError as e:
            print(f"{os.path.basename(path):28s} refused: {str(e)[:120]}")
            continue
        x = rng.random((1,) + model.input_shapes[0][1:]).astype(np.float32)
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        rel = np.abs(model(x) - want).max() / np.abs(want).max()
        print(f"{os.path.basename(path):28s} loads; max |diff| / max |ort| = {rel:.2e}")


def main():
    if "--zoo" in sys.argv:
        zoo()
        return
    counts = {}
    for case in cases(onnx):
        status, detail = run_case(onnx, case)
        suite = os.path.basename(os.path.dirname(case))
        counts.setdefault(suite, {}).setdefault(status, 0)
        counts[suite][status] += 1
        print(f"{suite:18s} {os.path.basename(case):45s} {status:12s} {detail[:110]}")
    for suite, c in counts.items():
        total = sum(c.values())
        print(f"{suite}: {c.get('pass', 0)}/{total} pass, {c.get('unsupported', 0)} unsupported "
              f"(clear error), {c.get('mismatch', 0)} mismatch")


if __name__ == "__main__":
    main()
