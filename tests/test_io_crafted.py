"""Crafted model files (issue 11, item 8): a tiny file declaring huge layers is refused before
anything big is allocated -- the declared shapes are checked against the file's tensors first --
and the exceptions a crafted description used to raise unwrapped (RecursionError, OverflowError,
ZeroDivisionError, TypeError) are ValueErrors naming the file and the field.

Memory is measured with tracemalloc, which counts numpy's allocations too (even pages never
touched): before the fix, refusing ``Linear(20000, 20000)`` first allocated its 1.6 GB weight and
1.6 GB gradient. Nothing here asserts on time. The mutation test of every field is
tests/test_io_mutation.py."""
import json
import math
import re
import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.prune import magnitude_prune, to_sparse
from fastnn.quant import quantize
from tests.test_io import rewrite, save_quantized_v2

MiB = 1 << 20


def _cnn():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def _x():
    return np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)


def _edit(entry, change):
    """A metadata edit: ``change`` applied to the JSON document of metadata ``entry``."""
    def edit(meta):
        doc = json.loads(meta[entry])
        doc = change(doc) or doc
        meta[entry] = json.dumps(doc)
    return edit


def _q(change):
    """An edit of a quantized model's spec, in either layout: the architecture's config (files
    written now) or the old "quantized" metadata entry (format version 2)."""
    def edit(meta):
        if "quantized" in meta:
            return _edit("quantized", change)(meta)
        return _edit("architecture", lambda d: change(d["config"]["spec"]))(meta)
    return edit


def _peak_bytes_of_refused_load(path):
    """(peak bytes traced while loading ``path``, the ValueError it raised)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            fastnn.load(path)
        return tracemalloc.get_traced_memory()[1], info.value
    finally:
        tracemalloc.stop()


def _layer(i, cls, **config):
    return lambda doc: doc["config"]["layers"][i].update({"class": cls, "config": config})


def _sparse(model):
    magnitude_prune(model, 0.8)
    return to_sparse(model.eval(), min_sparsity=0.5)


# (model, how its description is inflated, what the error names, bytes a full build would take)
HUGE = {
    "Linear(20000, 20000)": (
        lambda: nn.Sequential(nn.Linear(2, 3)),
        _edit("architecture", lambda d: d["config"]["layers"][0]["config"].update(
            in_features=20000, out_features=20000)),
        r"layers\[0\]: Linear: weight: shape \(20000, 20000\) is declared", 2 * 1.6e9),
    "Conv2d(2000, 2000, 9)": (
        _cnn, _edit("architecture", lambda d: d["config"]["layers"][0]["config"].update(
            in_channels=2000, out_channels=2000, kernel_size=9)),
        r"layers\[0\]: Conv2d: weight: shape \(2000, 2000, 9, 9\)", 2 * 1.3e9),
    "BatchNorm2d(10**9)": (
        _cnn, _edit("architecture", lambda d: d["config"]["layers"][1]["config"].update(
            num_features=10**9)),
        r"layers\[1\]: BatchNorm2d: weight: shape \(1000000000,\)", 6 * 4e9),
    "SparseLinear nnz 10**9": (
        lambda: _sparse(_cnn()),
        _edit("architecture", lambda d: d["config"]["layers"][5]["config"].update(
            in_features=10**5, out_features=10**5, nnz=10**9)),
        r"layers\[5\]: SparseLinear: weight_values: shape \(1000000000,\)", 16e9),
    "quantized model, float stage Linear(20000, 20000)": (
        lambda: quantize(nn.Sequential(*_cnn(), nn.Softmax(1)).eval(), _x(), check_speed=False),
        _q(lambda d: d["stages"][-1]["config"].update(modules=[
            {"class": "Linear", "config": {"in_features": 20000, "out_features": 20000}}])),
        r"stages\[\d+\]: FloatStage: modules\[0\]: Linear: weight: shape \(20000, 20000\)",
        2 * 1.6e9),
}


HUGE["quantized model (old layout), float stage Linear(20000, 20000)"] = \
    HUGE["quantized model, float stage Linear(20000, 20000)"]


@pytest.mark.parametrize("case", sorted(HUGE))
def test_tiny_file_declaring_a_huge_layer_is_refused_cheaply(tmp_path, case):
    make, inflate, names, full_build = HUGE[case]
    path = tmp_path / "huge.safetensors"
    (save_quantized_v2 if "old layout" in case else fastnn.save)(make(), path)
    rewrite(path, inflate)
    assert path.stat().st_size < 8192
    peak, err = _peak_bytes_of_refused_load(path)
    assert str(path) in str(err) and "do not fit" in str(err)
    assert len(re.findall(names, str(err))) == 1, str(err)
    assert peak < 16 * MiB, f"{peak} bytes traced (building it would take {full_build:.2g})"


def test_a_description_cannot_declare_more_weights_than_the_file_holds(tmp_path):
    # The file holds one 1000 x 1000 weight; the description declares it 100 times (each shape
    # is in the file, but each file tensor is claimed once: 800 MB are never allocated).
    path = tmp_path / "m.safetensors"
    fastnn.save(nn.Sequential(nn.Linear(1000, 1000, bias=False)), path)
    one = {"class": "Linear", "config": {"in_features": 1000, "out_features": 1000,
                                         "bias": False}}
    rewrite(path, _edit("architecture", lambda d: d["config"].update(layers=[one] * 100)))
    peak, err = _peak_bytes_of_refused_load(path)
    assert "layers[1]: Linear: weight: shape (1000, 1000) is declared, but the file holds no " \
           "(further) tensor of that shape" in str(err)
    assert peak < 64 * MiB, peak  # the 4 MB file read, its tensors and two weight copies
    # The same file loads when the description matches it.
    rewrite(path, _edit("architecture", lambda d: d["config"].update(layers=[one])))
    assert fastnn.load(path)[0].weight.shape == (1000, 1000)


def _stage(cls, **config):
    def change(d):
        stage = next(s for s in d["stages"] if s["class"] == cls)
        stage["config"].update(config)
    return change


# The probe's crafted files (each raised an exception of another type, or at predict time, or
# a ValueError that did not say which field): (file kind, edit, what the message must name).
PROBES = {
    "architecture nested past the recursion limit (RecursionError)":
        ("cnn", lambda m: m.update(architecture="[" * 100000 + "]" * 100000),
         "architecture"),
    "optimizer state nested past the recursion limit (RecursionError)":
        ("checkpoint", lambda m: m.update(optimizer="[" * 100000 + "]" * 100000),
         "'optimizer' metadata"),
    "Sequential in Sequential 400 deep (RecursionError)":
        ("cnn", lambda m: m.update(architecture='{"class": "Sequential", "config": {"layers": ['
                                   * 400 + ']}}' * 400), "architecture"),
    "Infinity as a quantized input_shape (OverflowError)":
        ("qcnn", _q(lambda d: d.update(input_shape=[math.inf, 8, 8])), "input_shape"),
    "Infinity as a quantized kernel size (OverflowError)":
        ("qcnn", _q(_stage("QConv2d", kernel_size=[math.inf, 3])), "kernel_size"),
    "Infinity as BatchNorm eps (loaded, every output NaN or 0)":
        ("cnn", _edit("architecture", lambda d: d["config"]["layers"][1]["config"].update(
            eps=math.inf)), "layers[1]: BatchNorm2d: eps"),
    "quantized stride 0 (ZeroDivisionError at predict)":
        ("qcnn", _q(_stage("QConv2d", stride=[0, 1])), "stride"),
    "quantized fused-pool stride 0 (ZeroDivisionError at predict)":
        ("qcnn", _q(_stage("QConv2d", pool=[[2, 2], [0, 2], [0, 0]])), "pool[1]"),
    "quantized pool stride 2**64 (RuntimeError from the binding at predict)":
        ("qcnn", _q(_stage("QConv2d", pool=[[2, 2], [2**64, 2], [0, 0]])), "pool[1]"),
    "quantized kernel_size [] (IndexError at predict)":
        ("qcnn", _q(_stage("QConv2d", kernel_size=[])), "kernel_size"),
    "quantized zero point 300":
        ("qcnn", _q(_stage("Quantize", zero_point=300)), "zero_point"),
    "quantized layer record not an object (AttributeError at repr)":
        ("qcnn", _q(lambda d: d["layers"].__setitem__(0, 5)), "layers[0]"),
    '"frozen": 5 (TypeError)':
        ("cnn", _edit("model", lambda d: d.update(frozen=5)), "frozen"),
    '"frozen" naming no parameter (silently ignored)':
        ("cnn", _edit("model", lambda d: d.update(frozen=["nope"])), "frozen"),
    '"training": "no" (read as True)':
        ("cnn", _edit("model", lambda d: d.update(training="no")), "training"),
    "a tuple tag holding a number (TypeError at load_checkpoint)":
        ("checkpoint", _edit("extra", lambda d: d.update(t={"__tuple__": 5})), "extra/t"),
    "a dict key that is a list (TypeError: unhashable)":
        ("checkpoint", _edit("extra", lambda d: d.update(
            k={"__items__": [[{"a": 1}, 2]]})), "extra/k"),
}


PROBES.update({f"{case} [old layout]": ("qcnn_v2",) + rest[1:]
               for case, rest in list(PROBES.items()) if rest[0] == "qcnn"})


def _probe_file(kind, path):
    if kind == "qcnn":
        fastnn.save(quantize(_cnn().eval(), _x(), check_speed=False), path)
    elif kind == "qcnn_v2":
        save_quantized_v2(quantize(_cnn().eval(), _x(), check_speed=False), path)
    elif kind == "checkpoint":
        model = _cnn()
        opt = optim.Adam(model.parameters(), lr=1e-3)
        fastnn.save(model, path, optimizer=opt, extra={"epoch": 3, "t": (1, 2), "k": {1: 2}})
    else:
        fastnn.save(_cnn(), path)


@pytest.mark.parametrize("case", sorted(PROBES))
def test_crafted_description_gives_a_value_error_naming_file_and_field(tmp_path, case):
    kind, edit, field = PROBES[case]
    path = tmp_path / "crafted.safetensors"
    _probe_file(kind, path)
    rewrite(path, edit)
    with pytest.raises(ValueError) as info:
        fastnn.load_checkpoint(path)
    assert str(path) in str(info.value) and field in str(info.value), str(info.value)


def test_nested_layers_are_named_by_their_path(tmp_path):
    path = tmp_path / "m.safetensors"
    fastnn.save(nn.Sequential(nn.Linear(2, 3), nn.Residual(nn.Sequential(nn.ReLU(),
                                                                         nn.Linear(3, 3)))),
                path)
    rewrite(path, _edit("architecture", lambda d: d["config"]["layers"][1]["config"]["block"]
                        ["config"]["layers"][1]["config"].update(out_features="3")))
    with pytest.raises(ValueError, match=r"layers\[1\]\.block\.layers\[1\]: Linear: "
                                         r"out_features must be an int"):
        fastnn.load(path)


def test_masks_must_be_zero_or_one(tmp_path):
    path = tmp_path / "m.safetensors"
    model = _cnn()
    magnitude_prune(model, 0.5)
    fastnn.save(model, path)
    back = fastnn.load(path)  # a pruned model round-trips
    np.testing.assert_array_equal(back[0].weight.mask, model[0].weight.mask)

    def nan_mask(tensors):
        tensors["mask/0.weight"] = np.full_like(tensors["mask/0.weight"], np.nan)
    rewrite(path, lambda m: None, nan_mask)
    with pytest.raises(ValueError, match=r"mask '0\.weight': expected only 0 and 1"):
        fastnn.load(path)


class _Payload:
    """Unpickling this creates ``path`` -- the marker that code from a file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_files_never_execute_code(tmp_path):
    import pickle
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Payload(marker))
    path = tmp_path / "m.safetensors"
    # A pickle where a model file should be.
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="truncated or corrupted|not a fastnn model file"):
        fastnn.load_checkpoint(path)
    # A pickle as tensor data, as a string in the state, and as the architecture text.
    fastnn.save(_cnn(), path, extra={"blob": np.frombuffer(payload, np.uint8),
                                     "text": payload.decode("latin-1")})
    ckpt = fastnn.load_checkpoint(path)
    assert ckpt.extra["blob"].tobytes() == payload and ckpt.extra["text"] == \
        payload.decode("latin-1")
    rewrite(path, lambda m: m.update(architecture=payload.decode("latin-1")))
    with pytest.raises(ValueError, match="architecture"):
        fastnn.load_checkpoint(path)
    assert not marker.exists()
