"""Crafted model files: a tiny file declaring a huge layer is refused before anything big is
initialised, and every mutation of the JSON descriptions either loads or is refused with a
ValueError naming the file -- never another exception, never a crash."""
import json
import math
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.quant import quantize
from tests.test_io import rewrite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_file_declaring_a_huge_layer_is_refused_cheaply(tmp_path):
    path = tmp_path / "huge.safetensors"
    fastnn.save(nn.Sequential(nn.Linear(2, 3)), path)

    def declare_huge(meta):
        spec = json.loads(meta["architecture"])
        spec["config"]["layers"][0]["config"].update(in_features=20000, out_features=20000)
        meta["architecture"] = json.dumps(spec)
    rewrite(path, declare_huge)
    assert path.stat().st_size < 8192
    # Initialising Linear(20000, 20000) would touch 1.6 GB of weights (3.2 GB with gradients);
    # the peak resident memory of a process that loads the file stays far below that.
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {ROOT!r})
        import fastnn
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            fastnn.load({str(path)!r})
        except ValueError as e:
            print("refused:", e)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("refused:") and "weights do not fit" in lines[0]
    assert str(path) in lines[0]
    assert int(lines[-1]) < 64 * 1024  # KiB: under 64 MiB more than before the load


def _models():
    rng = np.random.default_rng(0)
    fastnn.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    qcnn = quantize(cnn.eval(), x)
    return {"mlp": mlp, "cnn": cnn, "qcnn": qcnn}


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


# wrong type, negative, zero, past int64, huge, missing value, empty container, Infinity (JSON
# extension), nested
MUTATIONS = ["x", -1, 0, 2**63, 2**40, None, {}, math.inf, [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]


@pytest.mark.parametrize("kind", ["mlp", "cnn", "qcnn"])
def test_every_field_mutated(tmp_path, kind):
    model = _models()[kind]
    good = tmp_path / "good.safetensors"
    fastnn.save(model, good)
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    sections = [k for k in ("architecture", "model", "quantized") if k in meta]
    counts = {"loaded": 0, "ValueError": 0}
    target = tmp_path / "m.safetensors"
    for section in sections:
        doc = json.loads(meta[section])
        # (the quantized model's per-layer report -- names, errors, timings -- is informative)
        for leaf in [lf for lf in _leaves(doc) if lf[:1] != ("layers",)] + [()]:
            for value in MUTATIONS:
                target.write_bytes(raw)

                def edit(m, section=section, leaf=leaf, value=value):
                    d = json.loads(m[section])
                    if leaf == ():
                        d = value
                    else:
                        _set(d, leaf, value)
                    m[section] = json.dumps(d)
                rewrite(target, edit)
                try:
                    fastnn.load(target)
                    counts["loaded"] += 1
                except ValueError as e:
                    assert str(target) in str(e), (section, leaf, value, e)
                    counts["ValueError"] += 1
    assert counts["ValueError"] > 0 and sum(counts.values()) >= 100, counts
    # a description nested far past the recursion limit
    target.write_bytes(raw)
    rewrite(target, lambda m: m.update({sections[0]: "[" * 100000 + "]" * 100000}))
    with pytest.raises(ValueError, match=str(target)):
        fastnn.load(target)
