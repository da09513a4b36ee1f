"""Mutation test of model files (issue 11, item 8): valid files of every kind fastnn writes -- an
MLP checkpoint (optimizer, nested scheduler, extra), a CNN with BatchNorm, a pruned CNN (masks),
its sparse form, a static and a dynamic int8 model -- have each JSON metadata field replaced in
turn (every node of every JSON entry, the root included, and the plain-string entries) by a
wrong type, a negative, zero, huge numbers, NaN, Infinity, null, nothing (the key removed) and
deep nesting, and re-signed with a valid checksum (a well-formed file from a hostile source).

Each file must then load, or be refused with ValueError or TypeError naming the file; never
another exception, never a crash. What loads is then used -- forward / predict, repr, and the
checkpoint's state dicts loaded into a fresh optimizer and scheduler that take a step -- and may
refuse only with ValueError, TypeError or MemoryError (a declared geometry whose output numpy
cannot allocate; none of these mutations reaches it since window parameters are capped at
2**31 - 1). load_checkpoint returns the optimizer and scheduler sections as dicts: their
entries are checked by load_state_dict, which is why the checkpoint's mutations mostly end
"loaded, use refused".

Each file kind runs in a child process, so a crash fails the test with the mutation that caused
it instead of ending the run. ``python -m tests.test_io_mutation`` prints the counts."""
import json
import math
import os
import struct
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import safetensors.numpy as stn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("mlp_checkpoint", "cnn_batchnorm", "pruned_cnn", "sparse_cnn", "int8_static",
         "int8_dynamic")
_MISSING = object()


def _deep(n):
    v = 1
    for _ in range(n):
        v = [v]
    return v


# What replaces a JSON field (``_MISSING``: the key is removed, the list item dropped).
MUTATIONS = {"string": "x", "bool": True, "list": [], "object": {}, "negative": -1, "zero": 0,
             "fraction": 0.5, "2**40": 2**40, "2**64": 2**64, "1e308": 1e308, "NaN": math.nan,
             "Infinity": math.inf, "-Infinity": -math.inf, "null": None, "missing": _MISSING,
             "nested_400": _deep(400)}
# What replaces a whole metadata entry's text (JSON or not).
TEXT_MUTATIONS = {"empty": "", "not_json": "{", "nested_100000": "[" * 100000 + "]" * 100000,
                  "number": "-1", "NaN": "NaN", "Infinity": "Infinity", "long": "x" * 100000,
                  "missing": _MISSING}


def build(kind, path):
    """Write the valid file of ``kind``; return the input its model takes."""
    import fastnn
    from fastnn import nn, optim
    from fastnn.optim import lr_scheduler as S
    from fastnn.prune import magnitude_prune, to_sparse
    from fastnn.quant import quantize, quantize_dynamic
    fastnn.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    if kind in ("mlp_checkpoint", "int8_dynamic"):
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
        if kind == "int8_dynamic":
            fastnn.save(quantize_dynamic(model.eval()), path)
            return images[:2, 0, 0, :6]
        opt = optim.Adam([{"params": [model[0].weight, model[0].bias]},
                          {"params": [model[3].weight, model[3].bias], "lr": 1e-2}], lr=1e-3)
        sched = S.LinearWarmup(opt, 2, after=S.StepLR(opt, 2, gamma=0.5))
        for p in model.parameters():
            p.grad[...] = 0.1
        for _ in range(3):
            opt.step()
            sched.step()
        fastnn.save(model, path, optimizer=opt, scheduler=sched,
                    extra={"epoch": 3, "pair": (1, 2.5), "by_id": {7: "seven"}, "none": None})
        return images[:2, 0, 0, :6]
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    model(images)  # running statistics
    if kind == "int8_static":
        model = quantize(nn.Sequential(*model, nn.Softmax(1)).eval(), images, check_speed=False)
    elif kind in ("pruned_cnn", "sparse_cnn"):
        magnitude_prune(model, 0.8)
        if kind == "sparse_cnn":
            model = to_sparse(model.eval(), min_sparsity=0.5)
    fastnn.save(model, path)
    return images[:2]


def _nodes(doc, path=()):
    """Every node of a JSON document (paths of keys and indices), the root first."""
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, path + (i,))


def _replace(doc, path, value):
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if value is _MISSING:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def cases(meta):
    """(entry, field path, mutation name, new entry text or _MISSING) for every mutation."""
    for entry in sorted(meta):
        if entry == "checksum":
            continue
        for name, text in TEXT_MUTATIONS.items():
            yield entry, (), name, text
        try:
            doc = json.loads(meta[entry])
        except ValueError:
            continue  # a plain string (format, format_version, fastnn_version)
        if not isinstance(doc, (dict, list)):
            continue
        for path in list(_nodes(doc))[1:]:
            for name, value in MUTATIONS.items():
                new = _replace(json.loads(meta[entry]), path, value)
                yield entry, path, name, json.dumps(new)


def _use(model, x, ckpt):
    """Run what loaded: forward, repr, the saved optimizer and scheduler state."""
    import fastnn
    from fastnn import optim
    from fastnn.optim import lr_scheduler as S
    repr(model)
    if isinstance(model, fastnn.nn.Module):
        model.eval()
    model(x)
    if ckpt.optimizer is not None or ckpt.scheduler is not None:
        params = list(model.parameters())
        opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 1e-2}], lr=1e-3)
        sched = S.LinearWarmup(opt, 2, after=S.StepLR(opt, 2, gamma=0.5))
        if ckpt.optimizer is not None:
            opt.load_state_dict(ckpt.optimizer)
        if ckpt.scheduler is not None:
            sched.load_state_dict(ckpt.scheduler)
        for p in params:
            p.grad[...] = 0.1
        opt.step()
        sched.step()


def run(kind, folder):
    """Try every mutation of ``kind``'s file; return (counts, problems)."""
    import fastnn
    from fastnn import io as fio
    good = os.path.join(folder, f"{kind}.safetensors")
    x = build(kind, good)
    raw = open(good, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    tensors = stn.load(raw)
    target = os.path.join(folder, "mutated.safetensors")
    progress = os.path.join(folder, "progress")
    counts, problems = Counter(), []
    fields = set()
    for entry, path, name, text in cases(meta):
        fields.add((entry, path))
        case = f"{entry} {'/'.join(map(str, path)) or '<whole entry>'} <- {name}"
        with open(progress, "w") as f:  # read by the parent if this process dies
            f.write(case)
        m = dict(meta)
        if text is _MISSING:
            del m[entry]
        else:
            m[entry] = text
        m["checksum"] = fio._checksum(tensors, m)
        with open(target, "wb") as f:
            f.write(stn.save(tensors, metadata=m))
        try:
            ckpt = fastnn.load_checkpoint(target)
        except (ValueError, TypeError) as e:
            counts[f"refused: {type(e).__name__}"] += 1
            if target not in str(e):
                problems.append(f"{case}: {type(e).__name__} without the file name: {e}")
            continue
        except BaseException as e:  # noqa: B902 -- the point: nothing else may come out
            counts[f"WRONG: {type(e).__name__}"] += 1
            problems.append(f"{case}: load raised {type(e).__name__}: {e}"[:400])
            continue
        try:
            _use(ckpt.model, x, ckpt)
            counts["loaded, used"] += 1
        except (ValueError, TypeError, MemoryError) as e:
            counts[f"loaded, use refused: {type(e).__name__}"] += 1
        except BaseException as e:  # noqa: B902
            counts[f"WRONG at use: {type(e).__name__}"] += 1
            problems.append(f"{case}: using the loaded model raised {type(e).__name__}: {e}"
                            [:400])
    counts["fields"] = len(fields)
    return counts, problems


def _child(kind, folder):
    code = (f"import json, sys; sys.path.insert(0, {ROOT!r}); "
            f"from tests.test_io_mutation import run; "
            f"c, p = run({kind!r}, {str(folder)!r}); print(json.dumps([c, p]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        last = (folder / "progress").read_text() if (folder / "progress").exists() else "?"
        pytest.fail(f"{kind}: the child process ended with status {out.returncode} while "
                    f"trying {last}\n{out.stderr[-3000:]}")
    counts, problems = json.loads(out.stdout.strip().splitlines()[-1])
    return Counter(counts), problems


@pytest.mark.parametrize("kind", KINDS)
def test_every_metadata_field_mutated(tmp_path, kind):
    counts, problems = _child(kind, tmp_path)
    assert not problems, "\n".join(problems[:40])
    tried = sum(v for k, v in counts.items() if k != "fields")
    assert counts["fields"] >= 20 and tried >= 300, counts
    assert counts["refused: ValueError"] > 0 and counts["loaded, used"] > 0, counts


if __name__ == "__main__":  # the counts of every kind, for the record
    import tempfile
    from pathlib import Path
    total = Counter()
    for kind in KINDS:
        with tempfile.TemporaryDirectory() as d:
            c, p = _child(kind, Path(d))
        total += c
        print(f"{kind:16} {dict(sorted(c.items()))}  problems: {len(p)}")
        for line in p[:20]:
            print("   ", line)
    print(f"{'all':16} {dict(sorted(total.items()))}")
