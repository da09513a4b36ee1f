"""Model files: ``fastnn.save`` / ``fastnn.load`` / ``fastnn.load_checkpoint``.

A file is a safetensors file (https://github.com/huggingface/safetensors): tensors plus a string
metadata map. Nothing is pickled, and loading never executes code from the file: the architecture
is JSON (``Module.to_spec()``) rebuilt with ``fastnn.nn.module_from_config`` from registered
layer classes only.

Layout (format version 1):
  tensors   ``model/<state_dict key>``   parameters and buffers (float32; integer buffers, such
                                         as a sparse layer's CSR indices, keep their dtype)
            ``mask/<parameter name>``    Parameter.mask where not None (pruning)
            ``cluster/<name>/index``, ``cluster/<name>/centroids``  Parameter.cluster where not
                                         None (weight sharing, fastnn.compress)
            ``bits/<parameter name>/neg``, ``.../pos``, ``.../alpha``   with ``pack_bits=True``: the
                                         weight of a binary (1 bit: -1 plane) or ternary (2 bits:
                                         +1 and -1 planes) layer, np.packbits-ed, with its
                                         per-channel scale, instead of ``model/<name>``
            ``optimizer/...``, ``scheduler/...``, ``extra/...``   arrays of those state dicts
  metadata  ``format`` = "fastnn", ``format_version``, ``fastnn_version``,
            ``architecture`` (JSON spec), ``model`` (JSON: training flag, frozen parameters),
            ``optimizer`` / ``scheduler`` / ``extra`` (JSON skeletons; each array is replaced by
            ``{"__tensor__": key}``; tuples, and dicts whose keys are not plain strings, are
            tagged so the same nested dict comes back), ``checksum``.

Every model -- float, pruned, sparse, quantized (a ``fastnn.quant.QuantizedModel`` is a registered
Module whose state_dict holds its stages' tensors, see fastnn/quant/model.py), graph or chain --
is written in this one layout, format version 1. Files of the older quantized layout (format
version 2, written by fastnn before the graph refactor: metadata ``quantized`` (JSON spec) instead
of ``architecture``, tensors ``qmodel/<stage>/<name>``) are still read.

``checksum`` is ``sha256:<hex>`` over every tensor (name, dtype, shape, little-endian bytes, in
name order) and every other metadata entry (in key order), each piece length-prefixed. A file
whose bytes do not match — truncated, a flipped byte, edited metadata — is refused with
``ValueError("<path>: file is truncated or corrupted (...)")`` before anything is built.

Writes are atomic: a temporary file in the same directory (``.<name>.<pid>.<random>.tmp``), fsync,
then ``os.replace``; a crash leaves either the old file or the new one, never a partial one. A
process killed while writing (SIGKILL, power loss) cannot remove its temporary file: the next save
to the same path removes the temporaries of that path whose writing process is gone (a live
writer's, on this machine, is left alone; on a shared network folder a writer on another machine
is not visible, so avoid saving to one path from several machines at once).

State-dict contract (optimizers, schedulers, ``extra``): nested dicts/lists/tuples whose leaves are
None, bool, int, float, str or numpy arrays (numpy scalars are stored as Python numbers).
"""
import hashlib
import json
import numbers
import os
import re
import secrets
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from fastnn import _random
from fastnn.nn.module import _REGISTRY, Module, deferred_init, module_from_config

__all__ = ["save", "load", "load_checkpoint", "Checkpoint", "FORMAT_VERSION"]

FORMAT_VERSION = 2  # the newest layout read (2: the old quantized layout); files are written as 1
_SECTIONS = ("optimizer", "scheduler", "extra")


class Checkpoint(NamedTuple):
    """What ``load_checkpoint`` returns; sections not saved are None."""
    model: Module
    optimizer: Optional[dict]
    scheduler: Optional[dict]
    extra: Optional[Any]


def _c_array(a, dtype=None):
    """C-contiguous array of ``dtype``, keeping 0-d arrays 0-d (np.ascontiguousarray would not)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _safetensors():
    try:
        import safetensors.numpy as stn
    except ImportError as e:  # a declared dependency; say how to get it if it is missing
        raise ImportError("fastnn model files need the safetensors package: "
                          "pip install safetensors") from e
    return stn


# -- nested state <-> JSON skeleton + tensors ------------------------------------------------------
class _Encoder:
    def __init__(self, section, tensors):
        self.section = section
        self.tensors = tensors

    def key_for(self, path):
        key = f"{self.section}/{path}" if path else self.section
        base, n = key, 1
        while key in self.tensors:
            key, n = f"{base}#{n}", n + 1
        return key

    def encode(self, obj, path):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, numbers.Integral):
            return int(obj)
        if isinstance(obj, numbers.Real):
            return float(obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf" or obj.dtype.itemsize > 8:
                raise TypeError(f"{self.section} state {path or '<root>'}: arrays must be bool, "
                                f"integer or float, got dtype {obj.dtype}")
            key = self.key_for(path)
            self.tensors[key] = _c_array(obj, obj.dtype.newbyteorder("<"))
            return {"__tensor__": key}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{path}/{i}".lstrip("/"))
                                  for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}/{i}".lstrip("/")) for i, v in enumerate(obj)]
        if isinstance(obj, Mapping):
            keys = list(obj.keys())
            if all(isinstance(k, str) and not k.startswith("__") for k in keys):
                return {k: self.encode(obj[k], f"{path}/{k}".lstrip("/")) for k in keys}
            return {"__items__": [[self.encode_key(k, path), self.encode(obj[k], f"{path}/{k}"
                                                                         .lstrip("/"))]
                                  for k in keys]}
        raise TypeError(f"{self.section} state {path or '<root>'}: unsupported value of type "
                        f"{type(obj).__name__} (state dict leaves must be None, bool, int, float, "
                        "str or numpy arrays, in dicts, lists or tuples)")

    def encode_key(self, k, path):
        if not _plain_key(k):
            raise TypeError(f"{self.section} state {path or '<root>'}: unsupported dict key {k!r} "
                            "(keys must be None, bool, int, float, str or tuples of those)")
        return self.encode(k, path)


def _plain_key(k):
    if isinstance(k, tuple):
        return all(_plain_key(e) for e in k)
    return k is None or isinstance(k, (bool, str, numbers.Real))


class _BadSkeleton(ValueError):
    """A JSON skeleton that ``_Encoder`` cannot have written; the message names the entry."""


def _decode(obj, tensors, where):
    """The nested state a skeleton describes; ``where``: the entry's path, for errors."""
    if isinstance(obj, list):
        return [_decode(v, tensors, f"{where}/{i}") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, val), = obj.items()
        if tag == "__tensor__":
            if not isinstance(val, str) or val not in tensors:
                raise _BadSkeleton(f"{where}: missing tensor {_short(val)}")
            return tensors[val]
        if tag == "__tuple__":
            if not isinstance(val, list):
                raise _BadSkeleton(f"{where}: __tuple__: expected a list, got {_short(val)}")
            return tuple(_decode(v, tensors, f"{where}/{i}") for i, v in enumerate(val))
        if tag == "__items__":
            if not isinstance(val, list) or not all(isinstance(kv, list) and len(kv) == 2
                                                    for kv in val):
                raise _BadSkeleton(f"{where}: __items__: expected a list of [key, value] pairs, "
                                   f"got {_short(val)}")
            out = {}
            for i, (k, v) in enumerate(val):
                key = _hashable(_decode(k, tensors, f"{where}/{i}"))
                try:
                    hash(key)
                except TypeError:
                    raise _BadSkeleton(f"{where}/{i}: a dict key must be None, bool, a number, "
                                       f"a string or a tuple of those, got {_short(key)}") \
                        from None
                out[key] = _decode(v, tensors, f"{where}/{key}")
            return out
    return {k: _decode(v, tensors, f"{where}/{k}") for k, v in obj.items()}


def _short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def _hashable(k):
    return tuple(_hashable(e) for e in k) if isinstance(k, (list, tuple)) else k


def _state_of(obj, name):
    if obj is None:
        return None
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        return obj
    raise TypeError(f"{name}: expected an object with state_dict() or a dict, got "
                    f"{type(obj).__name__}")


# -- checksum -------------------------------------------------------------------------------------
def _checksum(tensors, metadata):
    h = hashlib.sha256()

    def piece(b):
        h.update(struct.pack("<Q", len(b)))
        h.update(b)

    for name in sorted(tensors):
        arr = tensors[name]
        arr = _c_array(arr, arr.dtype.newbyteorder("<"))
        piece(name.encode())
        piece(arr.dtype.str.encode())
        piece(json.dumps(list(arr.shape)).encode())
        h.update(struct.pack("<Q", arr.nbytes))
        h.update(arr.reshape(-1).view(np.uint8))
    for key in sorted(metadata):
        if key != "checksum":
            piece(str(key).encode())
            piece(str(metadata[key]).encode())
    return "sha256:" + h.hexdigest()


# -- save -----------------------------------------------------------------------------------------
def _check_registered(spec, where):
    """Every layer class in the spec must be registered under its name, or load would fail."""
    if isinstance(spec, dict):
        if set(spec) == {"class", "config"} and isinstance(spec["class"], str):
            if spec["class"] not in _REGISTRY:
                raise TypeError(f"{where}: layer class {spec['class']!r} is not registered; "
                                "decorate it with @fastnn.nn.register so it can be loaded")
        for v in spec.values():
            _check_registered(v, where)
    elif isinstance(spec, (list, tuple)):
        for v in spec:
            _check_registered(v, where)


def save(model, path, optimizer=None, scheduler=None, extra=None, pack_bits=False):
    """Save ``model`` (architecture + weights, masks, frozen flags) to ``path``, atomically.

    pack_bits: store the weights of BinaryLinear/BinaryConv2d with 1 bit per weight and of
    TernaryLinear/TernaryConv2d with 2 bits (plus one float32 scale per output channel) instead
    of their float32 latent weights. The loaded model computes exactly what the saved one does
    (its weights are alpha * sign, or alpha * t, which binarise/ternarise to themselves); the
    latent weights are not kept, so save without it to resume training exactly.

    optimizer, scheduler: objects with ``state_dict()`` (or their state dicts), stored so
    ``load_checkpoint`` gives them back for resuming. extra: any nested dict following the same
    contract (e.g. epoch, history, RNG state). A ``fastnn.quant.QuantizedModel`` is saved like any
    model, with its int8 weights, scales and zero points (no optimizer or scheduler). Returns
    the path.

    Atomic: the bytes go to ``.<name>.<pid>.<random>.tmp`` in the same folder, are fsynced and
    renamed over ``path``, so a crash leaves the old file or the new one, never a mix. A writer
    killed mid-save (SIGKILL, OOM killer, power loss) cannot delete its temporary file; this
    function first deletes the temporaries *of this path* whose writing process (the pid in the
    name) no longer runs on this machine (in this pid namespace; a zombie counts as gone). A
    live writer's temporary is kept, so two processes may save to one path concurrently (the
    last rename wins); files that do not match the pattern exactly are never touched. On a
    folder shared between machines a writer on another machine is invisible here: do not save
    to one path from several machines at once."""
    quantized = _quantized_class()
    if quantized is not None and isinstance(model, quantized) and (optimizer is not None
                                                                   or scheduler is not None):
        raise TypeError("optimizer, scheduler: a quantized model is not trained; save it alone "
                        "(extra= is allowed)")
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a fastnn.nn.Module or a fastnn.quant.QuantizedModel, "
                        f"got {type(model).__name__}")
    if _REGISTRY.get(type(model).__name__) is not type(model):
        raise TypeError(f"model: class {type(model).__name__} is not registered; decorate it "
                        "with @fastnn.nn.register (and define get_config) to save it")
    try:
        spec = model.to_spec()
        arch = json.dumps(spec)
    except NotImplementedError as e:
        raise TypeError(f"model: cannot describe the architecture: {e}") from e
    except (TypeError, ValueError) as e:
        raise TypeError(f"model: get_config() must return JSON-able values: {e}") from e
    _check_registered(spec, "model")

    tensors = {}
    for k, v in model.state_dict().items():  # float32; integer buffers keep their dtype
        v = np.asarray(v)
        tensors[f"model/{k}"] = _c_array(v, v.dtype.newbyteorder("<") if v.dtype.kind in "iu"
                                         else np.float32)
    packed = _pack_bits(model, tensors) if pack_bits else {}
    frozen, masks = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            frozen.append(name)
        if p.mask is not None:
            mask = np.asarray(p.mask)
            if mask.shape != p.data.shape:
                raise ValueError(f"model: mask of {name!r}: expected shape {p.data.shape}, got "
                                 f"{mask.shape}")
            tensors[f"mask/{name}"] = _c_array(mask, np.float32)
            masks.append(name)
        if p.cluster is not None:  # weight sharing: the index per weight and the centroids
            tensors[f"cluster/{name}/index"] = _c_array(p.cluster[0], np.dtype("<i4"))
            tensors[f"cluster/{name}/centroids"] = _c_array(p.cluster[1], np.float32)

    import fastnn
    metadata = {"format": "fastnn", "format_version": "1",
                "fastnn_version": str(getattr(fastnn, "__version__", "unknown")),
                "architecture": arch,
                "model": json.dumps({"training": bool(model.training), "frozen": frozen,
                                     "masks": masks, **({"packed": packed} if packed else {})})}
    for section, obj in zip(_SECTIONS, (_state_of(optimizer, "optimizer"),
                                        _state_of(scheduler, "scheduler"), extra)):
        if obj is not None:
            metadata[section] = json.dumps(_Encoder(section, tensors).encode(obj, ""))
    metadata["checksum"] = _checksum(tensors, metadata)
    data = _canonical(_safetensors().save(tensors, metadata=metadata))
    _atomic_write(Path(path), data)
    return path


def _bit_layers():
    from fastnn.nn.binary import BinaryConv2d, BinaryLinear, TernaryConv2d, TernaryLinear
    return (BinaryLinear, BinaryConv2d), (TernaryLinear, TernaryConv2d)


def _pack_bits(model, tensors):
    """Replace the binary/ternary weights in ``tensors`` by bit-planes; {name: {bits, shape}}."""
    from fastnn.nn.binary import binary_alpha, ternary_weight
    binary, ternary = _bit_layers()
    packed = {}
    for prefix, m in model.named_modules():
        if not isinstance(m, binary + ternary):
            continue
        name = f"{prefix}.weight" if prefix else "weight"
        if f"model/{name}" not in tensors or name in packed:
            continue
        w = m.weight.data
        if isinstance(m, binary):
            planes, alpha, bits = {"neg": w < 0}, binary_alpha(w), 1
        else:
            t, alpha = ternary_weight(w)
            planes, bits = {"pos": t > 0, "neg": t < 0}, 2
        del tensors[f"model/{name}"]
        for k, v in planes.items():
            tensors[f"bits/{name}/{k}"] = np.packbits(v.reshape(-1))
        tensors[f"bits/{name}/alpha"] = _c_array(alpha, np.float32)
        packed[name] = {"bits": bits, "shape": list(w.shape)}
    return packed


def _unpack_bits(info, tensors, path):
    """The float weights (alpha * sign, alpha * t) of a ``pack_bits`` file, into ``tensors``."""
    packed = info.get("packed", {})
    if not isinstance(packed, dict):
        raise ValueError(f"{path}: 'model' metadata: packed: expected an object, got "
                         f"{_short(packed)}")
    for name, rec in packed.items():
        where = f"{path}: packed weight {name!r}"
        if (not isinstance(rec, dict) or rec.get("bits") not in (1, 2)
                or not isinstance(rec.get("shape"), list) or not rec["shape"]
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2 ** 40
                           for d in rec["shape"])):
            raise ValueError(f"{where}: expected {{bits: 1 or 2, shape: [positive ints]}}, got "
                             f"{_short(rec)}")
        shape, n = tuple(rec["shape"]), int(np.prod(rec["shape"]))
        if f"model/{name}" in tensors:
            raise ValueError(f"{where}: stored both packed and as float32")
        alpha = tensors.get(f"bits/{name}/alpha")
        if alpha is None or alpha.dtype != np.float32 or alpha.shape != (shape[0],):
            raise ValueError(f"{where}: alpha: expected float32 of shape ({shape[0]},), got "
                             f"{None if alpha is None else (alpha.dtype, alpha.shape)}")
        planes = {}
        for k in (("neg",) if rec["bits"] == 1 else ("pos", "neg")):
            v = tensors.get(f"bits/{name}/{k}")
            if v is None or v.dtype != np.uint8 or v.shape != ((n + 7) // 8,):
                raise ValueError(f"{where}: {k}: expected uint8 of shape ({(n + 7) // 8},), got "
                                 f"{None if v is None else (v.dtype, v.shape)}")
            planes[k] = np.unpackbits(v, count=n).reshape(shape).astype(bool)
        if rec["bits"] == 1:
            t = np.where(planes["neg"], np.float32(-1), np.float32(1))
        else:
            if (planes["pos"] & planes["neg"]).any():
                raise ValueError(f"{where}: the +1 and -1 planes overlap")
            t = planes["pos"].astype(np.float32) - planes["neg"].astype(np.float32)
        tensors[f"model/{name}"] = t * alpha.reshape((-1,) + (1,) * (len(shape) - 1))
    extra = sorted({k.split("/")[1] for k in tensors if k.startswith("bits/")} - set(packed))
    if extra:
        raise ValueError(f"{path}: bit-planes {_short(extra)} are not listed as packed weights")


def _canonical(data):
    """``data`` (safetensors bytes) with its metadata keys in sorted order. The safetensors writer
    keeps metadata in a hash map whose order changes from call to call, so the same model would
    give different bytes; the tensor entries and the data section are left as written. The header
    stays padded with spaces to a multiple of 8 bytes, as the writer pads it."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    ordered = {"__metadata__": dict(sorted(meta.items()))} if meta is not None else {}
    ordered.update(header)
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _quantized_class():
    import sys
    mod = sys.modules.get("fastnn.quant.model")  # only a loaded module can have made one
    return None if mod is None else mod.QuantizedModel


def _build_quantized(metadata, tensors, path):
    from fastnn.quant.model import QuantizedModel
    try:
        spec = json.loads(metadata["quantized"])
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: bad quantized-model metadata ({type(e).__name__}: {e})") \
            from None
    gen = _random.generator()
    rng_state = gen.bit_generator.state
    try:  # float layers are built (not initialised, shapes checked) before their weights load
        with deferred_init([v.shape for k, v in tensors.items() if k.startswith("qmodel/")]):
            return QuantizedModel._from_state(spec, tensors)
    except _SPEC_ERRORS as e:
        raise ValueError(f"{path}: cannot rebuild the quantized model from its 'quantized' "
                         f"metadata: {_describe(e)}") from None
    finally:
        gen.bit_generator.state = rng_state


def _pid_alive(pid):
    """Whether process ``pid`` may still be writing (when unsure: yes, keep its file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists (another user's), or not a pid we can judge: keep its file
    try:  # Linux: a zombie (killed, not yet reaped by its parent) writes nothing more
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _remove_stale_temporaries(path):
    """Remove ``.<name>.<pid>.<hex>.tmp`` files of this path left by writers that are gone."""
    pattern = re.compile(r"\." + re.escape(path.name) + r"\.(\d+)\.[0-9a-f]{8}\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _atomic_write(path, data):
    directory = path.parent
    _remove_stale_temporaries(path)
    tmp = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# -- load -----------------------------------------------------------------------------------------
# What a crafted description can make the rebuilding code raise (a wrong type where a number is
# expected, Infinity into int(), a zero stride, nesting past the recursion limit, ...): all of it
# is a bad file, reported as ValueError naming the file.
_SPEC_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                ZeroDivisionError, RecursionError, MemoryError)


def _describe(e):
    """An exception's message; its type too where the type is not what a bad value raises."""
    return str(e) if type(e) in (ValueError, TypeError) else f"{type(e).__name__}: {e}"


def _read(path):
    """(metadata, tensors) of a verified fastnn file."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"FNDC"):  # a Deep Compression file (fastnn.compress.save_compressed)
        from fastnn.compress._file import read_compressed
        return read_compressed(data, path)
    bad = f"{path}: file is truncated or corrupted"
    if len(data) < 8:
        raise ValueError(f"{bad} ({len(data)} bytes: no safetensors header)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{bad} (header of {n} bytes does not fit in {len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
        metadata = header.get("__metadata__") or {}
    except (UnicodeDecodeError, ValueError, AttributeError) as e:
        raise ValueError(f"{bad} (unreadable header: {e})") from None
    if not isinstance(metadata, dict) or "checksum" not in metadata:
        raise ValueError(f"{path}: not a fastnn model file (a safetensors file without fastnn "
                         "metadata)" if isinstance(header, dict) else f"{bad} (bad header)")
    try:
        tensors = _safetensors().load(data)
    except Exception as e:  # SafetensorError: offsets and lengths do not match the bytes
        raise ValueError(f"{bad} ({e})") from None
    if _checksum(tensors, metadata) != metadata["checksum"]:
        raise ValueError(f"{bad} (checksum mismatch)")
    if metadata.get("format") != "fastnn":
        raise ValueError(f"{path}: not a fastnn model file (format {metadata.get('format')!r})")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ValueError(f"{path}: bad format_version {metadata.get('format_version')!r}") \
            from None
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer fastnn (file format {version}, this "
                         f"version reads up to {FORMAT_VERSION}); upgrade fastnn")
    return metadata, tensors


def _build_model(metadata, tensors, path):
    if "quantized" in metadata:
        return _build_quantized(metadata, tensors, path)
    try:
        spec = json.loads(metadata["architecture"])
        info = json.loads(metadata.get("model", "{}"))
    except (KeyError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: bad architecture metadata ({type(e).__name__}: {e})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: 'model' metadata: expected a JSON object, got {_short(info)}")
    frozen, training = info.get("frozen", []), info.get("training", True)
    if not isinstance(frozen, list) or not all(isinstance(n, str) for n in frozen):
        raise ValueError(f"{path}: 'model' metadata: frozen: expected a list of parameter names, "
                         f"got {_short(frozen)}")
    if not isinstance(training, bool):
        raise ValueError(f"{path}: 'model' metadata: training: expected true or false, got "
                         f"{_short(training)}")
    _unpack_bits(info, tensors, path)
    gen = _random.generator()
    rng_state = gen.bit_generator.state
    # No random initialisation (the weights follow), and every declared parameter or buffer is
    # checked against the shapes of the file's tensors before it is allocated.
    try:
        with deferred_init([v.shape for k, v in tensors.items() if k.startswith("model/")]):
            model = module_from_config(spec)
    except _SPEC_ERRORS as e:
        raise ValueError(f"{path}: cannot rebuild the model from its 'architecture' metadata: "
                         f"{_describe(e)}") from None
    finally:
        gen.bit_generator.state = rng_state
    state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(state, strict=True)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: weights do not fit the architecture: {e}") from None
    params = dict(model.named_parameters())
    masks = {}
    for k, v in tensors.items():
        if k.startswith("mask/"):
            name = k[len("mask/"):]
            if name not in params or params[name].data.shape != v.shape:
                raise ValueError(f"{path}: mask {name!r} does not fit the model's parameters")
            mask = _c_array(v, np.float32)
            if not np.isin(mask, (0.0, 1.0)).all():
                raise ValueError(f"{path}: mask {name!r}: expected only 0 and 1")
            masks[name] = mask
    clusters = _read_clusters(tensors, params, path)
    unknown = sorted(set(frozen) - set(params))
    if unknown:
        raise ValueError(f"{path}: 'model' metadata: frozen: {_short(unknown)} are not "
                         "parameters of the model")
    for name, p in params.items():
        p.requires_grad = name not in frozen
        if name in masks:
            p.mask = masks[name]
        if name in clusters:
            p.cluster = clusters[name]
    try:
        model.train(training)
    except ValueError as e:  # a model without a training mode (QuantizedModel) told to train
        raise ValueError(f"{path}: 'model' metadata: training: {e}") from None
    return model


def _read_clusters(tensors, params, path):
    """{parameter name: (index int32, centroids float32)} of the ``cluster/<name>/...`` tensors,
    each checked: the index has the weight's shape and values in -1 (pruned) .. k - 1, the k
    centroids are finite."""
    out = {}
    names = {k[len("cluster/"):].rsplit("/", 1)[0] for k in tensors if k.startswith("cluster/")}
    for name in sorted(names):
        idx, c = tensors.get(f"cluster/{name}/index"), tensors.get(f"cluster/{name}/centroids")
        if name not in params or idx is None or c is None:
            raise ValueError(f"{path}: cluster {name!r}: expected an index and centroids for a "
                             "parameter of the model")
        if idx.dtype.kind != "i" or idx.shape != params[name].data.shape:
            raise ValueError(f"{path}: cluster {name!r}: index: expected int32 of shape "
                             f"{params[name].data.shape}, got {idx.dtype} {idx.shape}")
        if c.ndim != 1 or c.size == 0 or c.dtype != np.float32 or not np.isfinite(c).all():
            raise ValueError(f"{path}: cluster {name!r}: centroids: expected a non-empty 1-D "
                             f"finite float32 array, got {c.dtype} {c.shape}")
        if idx.size and (idx.min() < -1 or idx.max() >= c.size):
            raise ValueError(f"{path}: cluster {name!r}: index values outside -1..{c.size - 1}")
        out[name] = (_c_array(idx, np.int32), _c_array(c, np.float32))
    return out


def load_checkpoint(path):
    """``Checkpoint(model, optimizer, scheduler, extra)`` from a file written by ``save``: the
    rebuilt model with its weights, masks and frozen flags, and the optimizer/scheduler state
    dicts and ``extra`` as they were passed (None where not saved). Pass the state dicts to
    ``optimizer.load_state_dict`` / ``scheduler.load_state_dict`` to resume."""
    metadata, tensors = _read(path)
    model = _build_model(metadata, tensors, path)
    sections = {}
    for s in _SECTIONS:
        if s in metadata:
            try:
                sections[s] = _decode(json.loads(metadata[s]), tensors, s)
            except _BadSkeleton as e:
                raise ValueError(f"{path}: '{s}' metadata: {e}") from None
            except (ValueError, RecursionError) as e:
                raise ValueError(f"{path}: '{s}' metadata: not the JSON fastnn writes "
                                 f"({type(e).__name__}: {e})") from None
        else:
            sections[s] = None
    return Checkpoint(model, sections["optimizer"], sections["scheduler"], sections["extra"])


def load(path):
    """The model saved in ``path`` (architecture and weights; see ``load_checkpoint`` to resume)."""
    metadata, tensors = _read(path)
    return _build_model(metadata, tensors, path)
