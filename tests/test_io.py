"""fastnn.save / load / load_checkpoint: round trips, state-dict contract, integrity, atomicity."""
import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy as stn

import fastnn
from fastnn import io as fio
from fastnn.nn import Module, Parameter, Residual, Sequential, register
from fastnn.nn.module import _REGISTRY


@register
class _IoTestAffine(Module):
    """y = x * weight + bias, with a running-mean buffer; weights drawn from fastnn's generator."""

    def __init__(self, n, scale=1.0):
        super().__init__()
        self.n, self.scale = n, scale
        g = fastnn._random.generator()
        self.weight = Parameter(g.standard_normal(n) * scale)
        self.bias = Parameter(np.zeros(n))
        self.register_buffer("running", np.zeros(n))

    def forward(self, x):
        return x * self.weight.data + self.bias.data

    def get_config(self):
        return {"n": self.n, "scale": self.scale}


class _Unregistered(_IoTestAffine):
    pass


def make_model(rng):
    m = Sequential(_IoTestAffine(3), _IoTestAffine(3, scale=0.5), Residual(_IoTestAffine(3)))
    for _, p in m.named_parameters():
        p.data[...] = rng.standard_normal(p.shape)
    m[0].set_buffer("running", rng.standard_normal(3))
    return m


def assert_same_model(a, b):
    assert type(a) is type(b)
    assert a.to_spec() == b.to_spec()
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype == np.float32
        np.testing.assert_array_equal(sa[k], sb[k])


def assert_deep_equal(a, b, path="root"):
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_deep_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            assert_deep_equal(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


# -- round trips ----------------------------------------------------------------------------------
def test_model_round_trip(tmp_path, rng):
    m = make_model(rng)
    m[1].weight.mask = (rng.random(3) > 0.5).astype(np.float32)
    m[0].bias.requires_grad = False
    m.eval()
    path = tmp_path / "m.safetensors"
    assert fastnn.save(m, path) == path
    r = fastnn.load(path)
    assert_same_model(m, r)
    assert r is not m and not r.training and not r[2].block.training
    np.testing.assert_array_equal(r[1].weight.mask, m[1].weight.mask)
    assert r[0].weight.mask is None
    assert [p.requires_grad for p in r.parameters()] == [p.requires_grad for p in m.parameters()]
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(r(x), m(x))
    # a plain safetensors reader sees the weights under model/...
    raw = stn.load_file(str(path))
    np.testing.assert_array_equal(raw["model/0.weight"], m[0].weight.data)


def test_same_model_same_bytes(tmp_path, rng):
    # "same seed, same bits" reaches the file: the safetensors writer orders metadata by a hash
    # map that changes per call, so save sorts it (checkpoint sections included)
    m = make_model(rng)
    opt = _FakeOptimizer({"lr": 0.1, "state": {"0": {"m": np.ones(3, np.float32)}}})
    blobs = set()
    for i in range(6):
        path = tmp_path / f"m{i}.safetensors"
        fastnn.save(m, path, optimizer=opt, extra={"epoch": 3, "note": "x"})
        blobs.add(path.read_bytes())
    assert len(blobs) == 1
    data = blobs.pop()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    meta = json.loads(data[8:8 + n])["__metadata__"]
    assert list(meta) == sorted(meta)
    assert_same_model(fastnn.load(tmp_path / "m0.safetensors"), m)
    assert stn.load(data).keys() == stn.load_file(str(tmp_path / "m5.safetensors")).keys()


def test_load_does_not_disturb_global_rng(tmp_path, rng):
    path = tmp_path / "m.st"
    fastnn.save(make_model(rng), path)
    fastnn.manual_seed(5)
    expected = fastnn._random.generator().standard_normal(4)
    fastnn.manual_seed(5)
    fastnn.load(path)
    np.testing.assert_array_equal(fastnn._random.generator().standard_normal(4), expected)


class _FakeOptimizer:
    def __init__(self, state):
        self._state = state

    def state_dict(self):
        return self._state


def test_checkpoint_state_dicts_round_trip(tmp_path, rng):
    opt_state = {
        "state": {0: {"step": 3, "exp_avg": rng.standard_normal((3,)).astype(np.float32),
                      "exp_avg_sq": rng.random((2, 3)).astype(np.float32)},
                  1: {"step": np.int64(3), "max": np.array(2.5)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                          "name": None}],
        "flat": rng.standard_normal(7),                     # float64 array
    }
    sched_state = {"last_epoch": 4, "base_lrs": [0.1, 0.01], "best": float("inf"),
                   "nan": float("nan"), "mode": "min"}
    extra = {"epoch": 2, "rng": np.random.default_rng(3).bit_generator.state,  # 128-bit ints
             "history": {"loss": [1.5, 0.5]}, "__dunder": 1, (1, "a"): "tuple key",
             "a/b": np.arange(3), "a": {"b": np.arange(4, dtype=np.int16)},
             "flags": np.array([True, False]), "empty": np.zeros((0, 2), np.float32),
             "np_float": np.float32(0.25)}
    m = make_model(rng)
    path = tmp_path / "ck.st"
    fastnn.save(m, path, optimizer=_FakeOptimizer(opt_state), scheduler=sched_state, extra=extra)
    ck = fastnn.load_checkpoint(path)
    model, opt, sched, ex = ck
    assert_same_model(m, model)
    expected_opt = dict(opt_state)
    expected_opt["state"] = {0: opt_state["state"][0], 1: {"step": 3, "max": np.array(2.5)}}
    assert_deep_equal(opt, expected_opt)
    assert_deep_equal(sched, sched_state)
    expected_extra = dict(extra, np_float=0.25)
    assert_deep_equal(ex, expected_extra)
    # the generator state restores a generator exactly
    g = np.random.default_rng()
    g.bit_generator.state = ex["rng"]
    np.testing.assert_array_equal(g.random(3), np.random.default_rng(3).random(3))
    # sections not saved come back as None
    fastnn.save(m, path)
    ck = fastnn.load_checkpoint(path)
    assert ck.optimizer is None and ck.scheduler is None and ck.extra is None


def test_unsupported_state_values(tmp_path, rng):
    m = make_model(rng)
    with pytest.raises(TypeError, match=r"optimizer state state/w.*object"):
        fastnn.save(m, tmp_path / "a", optimizer={"state": {"w": object()}})
    with pytest.raises(TypeError, match="extra state z.*complex"):
        fastnn.save(m, tmp_path / "a", extra={"z": np.zeros(2, np.complex64)})
    with pytest.raises(TypeError, match="dict key"):
        fastnn.save(m, tmp_path / "a", extra={frozenset(): 1})
    with pytest.raises(TypeError, match="scheduler"):
        fastnn.save(m, tmp_path / "a", scheduler=42)
    assert not os.listdir(tmp_path)


def test_linear_round_trip(tmp_path, rng):
    m = Sequential(fastnn.nn.Linear(5, 4), fastnn.nn.Linear(4, 2))
    fastnn.save(m, tmp_path / "lin.st")
    r = fastnn.load(tmp_path / "lin.st")
    assert_same_model(m, r)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(r.eval()(x), m.eval()(x))


# -- what cannot be saved or rebuilt --------------------------------------------------------------
def test_unsaveable_models(tmp_path):
    with pytest.raises(TypeError, match="model"):
        fastnn.save({"w": np.zeros(2)}, tmp_path / "a")
    with pytest.raises(TypeError, match="not registered"):
        fastnn.save(_Unregistered(2), tmp_path / "a")
    with pytest.raises(TypeError, match="_Unregistered.*not registered"):
        fastnn.save(Sequential(_IoTestAffine(2), _Unregistered(2)), tmp_path / "a")
    m = _IoTestAffine(2, scale=np.float32(1.0))  # a numpy scalar is not JSON-able
    with pytest.raises(TypeError, match="JSON"):
        fastnn.save(m, tmp_path / "a")
    m = _IoTestAffine(2)
    m.weight.mask = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="mask.*weight"):
        fastnn.save(m, tmp_path / "a")
    assert not os.listdir(tmp_path)


def test_unknown_class_is_refused(tmp_path, rng):
    @register
    class _IoTemporary(_IoTestAffine):
        pass

    fastnn.save(Sequential(_IoTemporary(2)), tmp_path / "a")
    del _REGISTRY["_IoTemporary"]
    with pytest.raises(ValueError, match="cannot rebuild.*_IoTemporary"):
        fastnn.load(tmp_path / "a")


def rewrite(path, edit_metadata, edit_tensors=None):
    """Re-save with edited metadata and a *valid* checksum (a well-formed file from elsewhere)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    tensors = stn.load(data)
    edit_metadata(meta)
    if edit_tensors:
        edit_tensors(tensors)
    meta["checksum"] = fio._checksum(tensors, meta)
    with open(path, "wb") as f:
        f.write(stn.save(tensors, metadata=meta))


def save_quantized_v2(qmodel, path):
    """A quantized model in the layout fastnn wrote before quantized models became ordinary
    Modules (format version 2: metadata "quantized" + tensors "qmodel/<stage>/<name>") -- the
    old writer, kept here so the tests prove such files still load."""
    import fastnn as _fastnn
    spec, tensors = qmodel._to_state()
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = {"format": "fastnn", "format_version": "2",
            "fastnn_version": _fastnn.__version__, "quantized": json.dumps(spec)}
    meta["checksum"] = fio._checksum(tensors, meta)
    with open(path, "wb") as f:
        f.write(stn.save(tensors, metadata=meta))


def test_old_quantized_files_still_load(tmp_path, rng):
    from fastnn.quant import QuantizedModel, quantize
    fastnn.manual_seed(3)
    model = fastnn.nn.Sequential(fastnn.nn.Linear(6, 8), fastnn.nn.ReLU(),
                                 fastnn.nn.Linear(8, 3)).eval()
    xb = rng.standard_normal((40, 6)).astype(np.float32)
    q = quantize(model, xb, check_speed=False)
    save_quantized_v2(q, tmp_path / "old.fnn")
    fastnn.save(q, tmp_path / "new.fnn")
    meta = json.loads(open(tmp_path / "new.fnn", "rb").read()[8:][:struct.unpack(
        "<Q", open(tmp_path / "new.fnn", "rb").read()[:8])[0]])["__metadata__"]
    assert meta["format_version"] == "1" and "quantized" not in meta  # one layout for all
    assert json.loads(meta["architecture"])["class"] == "QuantizedModel"
    for name in ("old.fnn", "new.fnn"):
        back = fastnn.load(tmp_path / name)
        assert isinstance(back, QuantizedModel) and back.layers == q.layers
        np.testing.assert_array_equal(back.predict(xb), q.predict(xb))


def test_well_formed_but_unusable_files(tmp_path, rng):
    p = tmp_path / "m.st"
    fastnn.save(make_model(rng), p)
    rewrite(p, lambda m: m.update(format_version="99"))
    with pytest.raises(ValueError, match="newer fastnn"):
        fastnn.load(p)
    fastnn.save(make_model(rng), p)
    rewrite(p, lambda m: m.update(architecture=json.dumps({"class": "os.system",
                                                           "config": {"n": 1}})))
    with pytest.raises(ValueError, match="unknown layer class 'os.system'"):
        fastnn.load(p)
    fastnn.save(make_model(rng), p)
    rewrite(p, lambda m: None, lambda t: t.pop("model/1.bias"))
    with pytest.raises(ValueError, match=r"weights do not fit.*1\.bias"):
        fastnn.load(p)
    stn.save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "plain.st"))
    with pytest.raises(ValueError, match="not a fastnn model file"):
        fastnn.load(tmp_path / "plain.st")


# -- integrity ------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path, rng):
    p = tmp_path / "m.st"
    fastnn.save(make_model(rng), p, optimizer={"exp_avg": rng.standard_normal(5)},
                extra={"epoch": 1})
    return p, p.read_bytes()


def test_truncated_file(saved):
    p, data = saved
    (n,) = struct.unpack("<Q", data[:8])
    for cut in (0, 4, 8, 8 + n // 2, 8 + n, 8 + n + 10, len(data) - 1):
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="file is truncated or corrupted") as info:
            fastnn.load_checkpoint(p)
        assert str(p) in str(info.value)


def test_flipped_byte_in_tensor_data(saved):
    p, data = saved
    (n,) = struct.unpack("<Q", data[:8])
    for pos in (8 + n, (8 + n + len(data)) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        p.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match=r"truncated or corrupted \(checksum mismatch\)"):
            fastnn.load(p)


def test_edited_metadata(saved):
    p, data = saved
    # the architecture and extra JSON sit escaped inside the header's JSON
    for old, new in ((b'\\"scale\\": 0.5', b'\\"scale\\": 0.7'),
                     (b'\\"epoch\\": 1', b'\\"epoch\\": 7'),
                     (b'"format":"fastnn"', b'"format":"fastnm"')):
        assert data.count(old) == 1, old
        p.write_bytes(data.replace(old, new))
        with pytest.raises(ValueError, match=r"truncated or corrupted \(checksum mismatch\)"):
            fastnn.load_checkpoint(p)
    # a rewritten header whose checksum was not updated
    def keep_checksum(path):
        (n,) = struct.unpack("<Q", data[:8])
        meta = json.loads(data[8:8 + n])["__metadata__"]
        meta["extra"] = json.dumps({"epoch": 9})
        path.write_bytes(stn.save(stn.load(data), metadata=meta))

    keep_checksum(p)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fastnn.load_checkpoint(p)
    p.write_bytes(data + b"\x00" * 16)  # trailing garbage
    with pytest.raises(ValueError, match="truncated or corrupted"):
        fastnn.load(p)
    p.write_bytes(data)
    fastnn.load_checkpoint(p)  # the untouched bytes still load


# -- atomic writes --------------------------------------------------------------------------------
def test_atomic_write(tmp_path, rng, monkeypatch):
    p = tmp_path / "m.st"
    first = make_model(rng)
    fastnn.save(first, p)
    before = p.read_bytes()
    umask = os.umask(0o022)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fastnn.save(make_model(rng), p)
    monkeypatch.undo()
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m.st"]
    second = make_model(rng)
    fastnn.save(second, str(p))  # str paths too; replaces the old file
    assert_same_model(second, fastnn.load(str(p)))
    assert os.listdir(tmp_path) == ["m.st"]
