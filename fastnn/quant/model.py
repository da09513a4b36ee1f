"""QuantizedModel: the pipeline of stages ``quantize`` / ``quantize_dynamic`` build, its report of
which layers run in int8 and which stayed float (and why), and its file form.

A QuantizedModel is a registered ``Module`` (inference only), saved by ``fastnn.save`` like every
other model: its architecture entry's config is ``{"spec": the JSON spec below, "shapes": {buffer:
[shape, dtype]}}`` and its state_dict holds each stage's tensors as ``s<stage>_<name>`` (int8
weights unpacked, packed again at load; float32 per-channel scales and biases; the state of layers
that stayed float) -- the same form a graph model's ``QuantizedSegment`` uses. Files of the older
quantized format (version 2: metadata ``quantized`` + tensors ``qmodel/<stage>/<name>``) still
load (fastnn/io.py). Loading builds stages only from the fixed table ``stages.STAGES`` and float
layers only from registered classes: nothing from the file is executed.

    {"version": 1, "mode": "static" | "dynamic", "method", "per_channel", "input_shape",
     "layers": [per-layer records], "stages": [{"class", "name", "op_index", "config",
     "tensors": {name: tensor key}}]}
"""
import math
import numbers
import threading

import numpy as np

from fastnn.nn.module import Module, deferred_init, register
from fastnn.quant.stages import STAGES

__all__ = ["QuantizedModel"]

SPEC_VERSION = 1


@register
class QuantizedModel(Module):
    """An int8 model: ``predict(x)`` / ``model(x)`` run its stages (one C++ call each).

    ``layers``: one record per layer of the float model: ``name``, ``type``, ``status``
    ('int8', 'float' or 'removed'), ``reason`` (why it is not int8), ``error`` (the int8 layer's
    relative output error against float on calibration data, when measured) and ``time_int8`` /
    ``time_float`` (seconds per calibration batch, when measured). ``float_layers``: names of
    the layers with arithmetic that run in float.
    """

    inference_only = True

    def __init__(self, stages, layers, *, input_shape=None, mode="static", method=None,
                 per_channel=True):
        super().__init__()
        self.stages = list(stages)
        self.layers = list(layers)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.mode = mode
        self.method = method
        self.per_channel = bool(per_channel)
        self._workspaces = {}  # thread id -> {stage id: output buffer}

    # -- running -----------------------------------------------------------------------------------
    def _check_input(self, x):
        if isinstance(x, np.ndarray) and x.dtype == np.float32:
            arr = x
        else:
            try:
                arr = np.asarray(x, dtype=np.float32)
            except (TypeError, ValueError) as e:
                raise TypeError(f"x: expected a float array, got {type(x).__name__}: {e}") \
                    from None
        if self.input_shape is not None:
            want = ("N",) + self.input_shape
            if arr.ndim != len(want) or tuple(arr.shape[1:]) != self.input_shape:
                raise ValueError(f"x: expected shape ({', '.join(map(str, want))}), got "
                                 f"{tuple(arr.shape)}")
        elif arr.ndim < 2:
            raise ValueError(f"x: expected a batch (N, ...), got shape {tuple(arr.shape)}")
        return arr

    def _run(self, x):
        # Intermediate outputs go to per-thread reusable buffers; the result is always fresh.
        ws = self._workspaces.setdefault(threading.get_ident(), {})
        last = len(self.stages) - 1
        for i, s in enumerate(self.stages):
            x = s.run(x, ws if i < last else None)
        if any(np.may_share_memory(x, b) for b in ws.values()):
            x = x.copy()
        return x

    def predict(self, x, batch_size=None):
        """The model's float32 output for the batch ``x``; with ``batch_size``, in chunks of
        that many samples."""
        if "_pending_spec" in self.__dict__:
            raise ValueError("QuantizedModel: its tensors are not loaded yet (built from a "
                             "description: call load_state_dict, or use fastnn.load)")
        x = self._check_input(x)
        if batch_size is None or len(x) <= batch_size:
            return self._run(x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        return np.concatenate([self._run(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def __call__(self, x, batch_size=None):
        return self.predict(x, batch_size)

    def forward(self, x):
        return self.predict(x)

    def backward(self, grad_out):
        raise RuntimeError("QuantizedModel is inference-only: fine-tune the float model, then "
                           "quantize it again")

    # -- mode (PyTorch habits: ``model.eval()`` before inference) ---------------------------------
    @property
    def training(self):
        """Always False: a quantized model only runs inference."""
        return False

    @training.setter
    def training(self, mode):
        self.train(mode)

    def eval(self):
        """A no-op returning the model (it is always in inference mode)."""
        return self

    def train(self, mode=True):
        """``train(False)`` is ``eval()``; ``train(True)`` raises: a quantized model is not
        trained (fit the float model and quantize it again)."""
        if mode:
            raise ValueError("mode: a QuantizedModel runs inference only and has no training "
                             "mode; fit the float model, then quantize it again")
        return self

    # -- what runs where ---------------------------------------------------------------------------
    @property
    def float_layers(self):
        """Names of the float model's layers (with arithmetic) that run in float."""
        return [r["name"] for r in self.layers if r["status"] == "float"
                and not r.get("reshape", False)]

    @property
    def int8_layers(self):
        return [r["name"] for r in self.layers if r["status"] == "int8"
                and not r.get("reshape", False)]

    def nbytes(self):
        """Bytes of the stored weights, scales, biases and float layers' state."""
        return sum(s.nbytes() for s in self.stages)

    def __repr__(self):
        head = (f"QuantizedModel(mode={self.mode!r}"
                + (f", method={self.method!r}, per_channel={self.per_channel}"
                   if self.mode == "static" else "")
                + (f", input_shape={self.input_shape}" if self.input_shape else "") + ")")
        lines = [head, "  stages:"]
        lines += [f"    {s.describe()}" + (f"   [{s.name}]" if s.name else "")
                  for s in self.stages]
        lines.append("  layers:")
        for r in self.layers:
            extra = ""
            if r.get("error") is not None:
                extra += f"  err {100 * r['error']:.2f}%"
            if r.get("reason"):
                extra += f"  ({r['reason']})"
            lines.append(f"    {r['name']:<12} {r['type']:<32} {r['status']:<8}{extra}")
        fl = self.float_layers
        lines.append("  float layers: " + (", ".join(fl) if fl else "none"))
        return "\n".join(lines)

    # -- file form ---------------------------------------------------------------------------------
    def _to_state(self):
        tensors, stages = {}, []
        for j, s in enumerate(self.stages):
            keys = {}
            for k, v in s.tensors().items():
                key = f"qmodel/{j}/{k}"
                tensors[key] = np.ascontiguousarray(v)
                keys[k] = key
            stages.append({"class": type(s).__name__, "name": s.name, "op_index": s.op_index,
                           "op_end": s.op_end, "config": s.config(), "tensors": keys})
        spec = {"version": SPEC_VERSION, "mode": self.mode, "method": self.method,
                "per_channel": self.per_channel,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": self.layers, "stages": stages}
        return spec, tensors

    def _module_state(self):
        """(spec with each tensor key replaced by a buffer name ``s<stage>_<name>``, {name:
        array}): the form ``get_config`` / ``state_dict`` give (and QuantizedSegment keeps)."""
        spec, tensors = self._to_state()
        arrays = {}
        for stage in spec["stages"]:
            for k, key in stage["tensors"].items():
                name = "s" + key[len("qmodel/"):].replace("/", "_")
                arrays[name] = tensors[key]
                stage["tensors"][k] = name
        return spec, arrays

    def get_config(self):
        spec, arrays = self._module_state()
        return {"spec": spec, "shapes": {k: [list(a.shape), a.dtype.str.lstrip("<>|=")]
                                         for k, a in arrays.items()}}

    @classmethod
    def from_config(cls, config):
        """An empty model of the described shapes; ``load_state_dict`` then builds its stages
        (``fastnn.load`` does both: each declared tensor is checked against the file first)."""
        spec, shapes = config.get("spec"), config.get("shapes")
        if not isinstance(spec, dict) or not isinstance(shapes, dict):
            raise ValueError("QuantizedModel: spec and shapes: expected JSON objects")
        for name, entry in shapes.items():
            if (not isinstance(name, str) or not name.isidentifier()
                    or not isinstance(entry, list) or len(entry) != 2):
                raise ValueError(f"QuantizedModel: shapes: bad entry {_short(name)}: "
                                 f"{_short(entry)}")
            try:
                np.dtype(entry[1])
            except TypeError:
                raise ValueError(f"QuantizedModel: shapes: {name}: bad dtype "
                                 f"{_short(entry[1])}") from None
        model = cls([], [])
        object.__setattr__(model, "_pending_spec", (spec, dict(shapes)))
        return model

    def state_dict(self):
        return dict(self._module_state()[1])

    def load_state_dict(self, state_dict, strict=True):
        """Rebuild the stages from ``state_dict`` (the arrays ``state_dict()`` gives) and the
        spec this model was described with (``from_config``) or runs now. All or nothing: a
        state that does not fit raises and leaves the model unchanged."""
        pending = self.__dict__.get("_pending_spec")
        if pending is not None:
            spec, shapes = pending
        else:
            spec, arrays = self._module_state()
            shapes = {k: [list(a.shape), a.dtype.str] for k, a in arrays.items()}
        given = {str(k): np.asarray(v) for k, v in state_dict.items()}
        missing, unexpected = sorted(set(shapes) - set(given)), sorted(set(given) - set(shapes))
        if missing or unexpected:
            raise ValueError(f"QuantizedModel.load_state_dict: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        for k, (shape, dtype) in shapes.items():
            if list(given[k].shape) != list(shape) or given[k].dtype != np.dtype(dtype):
                raise ValueError(f"QuantizedModel.load_state_dict: {k!r}: expected {dtype} of "
                                 f"shape {tuple(shape)}, got {given[k].dtype} of shape "
                                 f"{given[k].shape}")
        new = QuantizedModel._from_state_checked(spec, given)
        self.__dict__.pop("_pending_spec", None)
        for key in ("stages", "layers", "input_shape", "mode", "method", "per_channel"):
            object.__setattr__(self, key, getattr(new, key))
        self._workspaces.clear()
        return [], []

    @classmethod
    def _from_state_checked(cls, spec, tensors):
        """``_from_state`` with every array a float stage's layer declares checked against the
        given tensors before it is allocated (``deferred_init``): a crafted spec declaring a
        huge float layer is refused cheaply, and nothing is randomly initialised."""
        with deferred_init([np.shape(v) for v in tensors.values()]):
            return cls._from_state(spec, tensors)

    @classmethod
    def _from_state(cls, spec, tensors):
        """Rebuild from ``_to_state``'s spec and tensors; a spec that ``_to_state`` cannot have
        written raises ValueError or TypeError naming the entry (``stages[2]: QConv2d:
        stride: ...``)."""
        if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
            raise ValueError(f"unsupported quantized model spec version "
                             f"{_short(spec.get('version') if isinstance(spec, dict) else spec)}")
        _check_spec(spec)
        stages = []
        for j, entry in enumerate(spec["stages"]):
            name = entry.get("class")
            if not isinstance(name, str) or name not in STAGES:
                raise ValueError(f"stages[{j}]: unknown stage class {_short(name)}")
            keys, config = entry.get("tensors", {}), entry.get("config", {})
            if not isinstance(keys, dict) or not isinstance(config, dict):
                raise ValueError(f"stages[{j}]: {name}: tensors and config: expected JSON "
                                 "objects")
            arrays = {}
            for k, key in keys.items():
                if not isinstance(key, str) or key not in tensors:
                    raise ValueError(f"stages[{j}]: {name}: tensors: missing tensor {_short(key)}")
                arrays[k] = tensors[key]
            try:
                stages.append(STAGES[name].from_state(config, arrays, name=entry.get("name", ""),
                                                      op_index=entry.get("op_index"),
                                                      op_end=entry.get("op_end")))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                    OverflowError) as e:
                kind = TypeError if isinstance(e, TypeError) else ValueError
                what = str(e) if isinstance(e, (ValueError, TypeError)) \
                    else f"{type(e).__name__}: {e}"
                raise kind(f"stages[{j}]: {name}: {what}") from None
        return cls(stages, spec.get("layers", []), input_shape=spec.get("input_shape"),
                   mode=spec.get("mode", "static"), method=spec.get("method"),
                   per_channel=spec.get("per_channel", True))


def _short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


_RECORD_TYPES = {"name": (str,), "type": (str,), "reason": (str, type(None)),
                 "reshape": (bool,), "error": (numbers.Real, type(None)),
                 "time_int8": (numbers.Real, type(None)), "time_float": (numbers.Real, type(None)),
                 "position": (numbers.Integral,)}


def _check_spec(spec):
    """The top-level entries and the per-layer records (the report) of a saved spec."""
    if spec.get("mode", "static") not in ("static", "dynamic"):
        raise ValueError(f"mode: expected 'static' or 'dynamic', got {_short(spec.get('mode'))}")
    if not isinstance(spec.get("method"), (str, type(None))):
        raise ValueError(f"method: expected a string or null, got {_short(spec.get('method'))}")
    if not isinstance(spec.get("per_channel", True), bool):
        raise ValueError(f"per_channel: expected true or false, got "
                         f"{_short(spec.get('per_channel'))}")
    shape = spec.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d < 2**31 for d in shape)):
        raise ValueError(f"input_shape: expected a list of positive ints or null, got "
                         f"{_short(shape)}")
    if not isinstance(spec.get("stages"), list) or not all(isinstance(e, dict)
                                                           for e in spec["stages"]):
        raise ValueError(f"stages: expected a list of JSON objects, got "
                         f"{_short(spec.get('stages'))}")
    layers = spec.get("layers", [])
    if not isinstance(layers, list):
        raise ValueError(f"layers: expected a list of layer records, got {_short(layers)}")
    for i, r in enumerate(layers):
        if not isinstance(r, dict):
            raise ValueError(f"layers[{i}]: expected a JSON object, got {_short(r)}")
        for key in ("name", "type", "status"):
            if key not in r:
                raise ValueError(f"layers[{i}]: missing {key!r}")
        if r["status"] not in ("int8", "float", "removed"):
            raise ValueError(f"layers[{i}]: status: expected 'int8', 'float' or 'removed', got "
                             f"{_short(r['status'])}")
        for key, types in _RECORD_TYPES.items():
            v = r.get(key)
            if key in r and (not isinstance(v, types) or (isinstance(v, bool) and bool not in
                                                          types)
                             or (isinstance(v, float) and not math.isfinite(v))):
                raise ValueError(f"layers[{i}]: {key}: unexpected value {_short(v)}")
