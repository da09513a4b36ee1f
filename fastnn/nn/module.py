"""Parameter, Module and the containers: the PyTorch-shaped skeleton every layer hangs on.

Contract of a layer (subclass of Module):
  * ``forward(x)`` returns the output; in training mode it keeps what ``backward`` needs.
  * ``backward(grad_out)`` returns d(loss)/d(input) and *accumulates* into each trainable
    parameter's ``.grad`` (cleared by ``zero_grad()``), as PyTorch does.
  * ``get_config()`` returns the constructor's keyword arguments (JSON-able); with the class name
    registered by ``@register`` this rebuilds the architecture without pickle (fastnn.save/load).
  * ``extra_repr()`` gives the part inside the parentheses of ``repr``.
  * parameters and buffers are allocated with ``new_array`` (then initialised unless
    ``init_deferred()``): ``fastnn.load`` checks each declared shape against the file's tensors
    before anything is allocated.
"""
import collections
import contextlib
import numbers
import operator
import threading
from collections import OrderedDict

import numpy as np

from fastnn.nn import _calls, _exec

_REGISTRY = {}


def register(cls):
    """Class decorator: make a Module buildable from ``{"class": name, "config": {...}}``."""
    _REGISTRY[cls.__name__] = cls
    return cls


_deferred = threading.local()


class _Claims:
    """The shapes of a file's tensors; each array a layer allocates through ``new_array`` while
    the file is being loaded claims one of them."""

    def __init__(self, shapes):
        self.left = collections.Counter(tuple(int(d) for d in s) for s in shapes)

    def claim(self, shape, what):
        if self.left[shape] <= 0:
            raise ValueError(f"{what}: shape {shape} is declared, but the file holds no (further) "
                             "tensor of that shape (the weights do not fit the description)")
        self.left[shape] -= 1


@contextlib.contextmanager
def deferred_init(shapes=None):
    """Within this context layers are built without initialising their weights: for
    ``fastnn.load``, where the file's weights follow.

    ``shapes``: the shapes of the file's tensors (from its safetensors header). Every array a
    layer allocates through ``new_array`` must then claim a tensor of the same shape not claimed
    before, or ValueError is raised *before* the array is allocated: a 6 KB file declaring
    ``Linear(20000, 20000)`` is refused without touching 1.6 GB, and a description cannot
    declare more weights than its file holds."""
    before = getattr(_deferred, "state", None)
    _deferred.state = (_Claims(shapes) if shapes is not None else None,)
    try:
        yield
    finally:
        _deferred.state = before


def init_deferred():
    """True inside ``deferred_init()`` (layer constructors skip their random initialisation)."""
    return getattr(_deferred, "state", None) is not None


def new_array(shape, fill=None, dtype=np.float32, name="array"):
    """A new array for a layer's parameter or buffer, ``shape`` filled with ``fill`` (None:
    uninitialised; the layer initialises it). Layer constructors allocate parameters and buffers
    through this so that ``fastnn.load`` can check a declared shape against the file's tensors
    before allocating it (see ``deferred_init``; ``name``, e.g. "weight", is named in that
    error). Inside ``deferred_init`` nothing is filled: the file's values follow."""
    shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(d) for d in shape)
    state = getattr(_deferred, "state", None)
    if state is None:
        if fill is None:
            return np.empty(shape, dtype)
        return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)
    claims = state[0]
    if claims is not None:
        layer = getattr(_building, "stack", None)
        claims.claim(shape, f"{layer[-1][1] if layer else 'layer'}: {name}")
    return np.empty(shape, dtype)


_building = threading.local()  # (where, class name) of each spec module_from_config is inside
# What a malformed description makes a layer's from_config raise besides ValueError/TypeError
# (a missing key, a short list, Infinity into int(), a zero divisor): reported as ValueError.
_SPEC_SLIPS = (KeyError, IndexError, AttributeError, OverflowError, ZeroDivisionError)


def _short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def module_from_config(spec, where=""):
    """Rebuild a module (and its children) from ``Module.to_spec()`` output.

    ``where``: the spec's place in its parent's config (containers pass e.g. "layers[2]"); an
    error in a nested layer names its path ("layers[0].block.layers[2]: Linear: ..."). A
    malformed spec raises ValueError or TypeError."""
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"{where or 'module spec'}: expected a dict with a 'class' key, got "
                         f"{_short(spec)}")
    name = spec["class"]
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"{where or 'module spec'}: unknown layer class {_short(name)}")
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{where or 'module spec'}: {name}: config: expected a dict, got "
                         f"{_short(config)}")
    stack = _building.__dict__.setdefault("stack", [])
    stack.append((where, name))
    try:
        return _REGISTRY[name].from_config(config)
    except (ValueError, TypeError, *_SPEC_SLIPS) as e:
        if getattr(e, "_fastnn_located", False):
            raise
        path = ".".join(w for w, _ in stack if w)
        if isinstance(e, (ValueError, TypeError)):
            msg, kind = str(e), (TypeError if isinstance(e, TypeError) else ValueError)
        else:
            msg, kind = f"{name}: {type(e).__name__}: {e}", ValueError
        err = kind(f"{path}: {msg}" if path else msg)
        err._fastnn_located = True
        raise err from None
    finally:
        stack.pop()


_SAVED_SLOTS = {}  # (class, attribute name) -> its Saved descriptor (see nn/_calls.py)


class _SymbolicBase:
    """Base of the symbolic tensors of graph building (fastnn.nn.graph.SymbolicTensor)."""

    __slots__ = ()


def _wrap_backward(fn):
    """Every backward a Module subclass defines runs inside the record of the call it answers."""
    def backward(self, *grads, input_grad=True):
        # input_grad=False: the caller does not want d(loss)/d(inputs) (a training step's data);
        # layers may skip computing it (Linear, Conv2d skip their dX, a container every layer
        # whose inputs need none) and the call returns None.
        out = _calls.run_backward(self, fn, grads, input_grad)
        return out if input_grad else None
    backward.__name__, backward.__qualname__ = fn.__name__, fn.__qualname__
    backward.__doc__ = fn.__doc__
    backward.__wrapped__ = fn
    backward._fastnn_wrapped = True
    return backward


# The structure epoch: bumped whenever a module or parameter attribute is assigned or deleted, a
# buffer registered or a training mode changed. A compiled inference plan (nn/_plan.py) built at
# one epoch is reused without re-checking the model while the epoch is unchanged; in-place writes
# into arrays need no bump (a plan borrows the arrays themselves).
_epoch = [0]


class Parameter:
    """A trainable float32 array: ``.data``, ``.grad`` (same shape, zero until backward) and
    ``.requires_grad`` (False freezes it: no gradient is accumulated and optimizers skip it).
    ``.mask`` (None or a 0/1 float32 array of the same shape) is set by pruning; ``.cluster``
    (None or (index int32, centroids float32)) by fastnn.compress.cluster_weights."""

    __slots__ = ("data", "grad", "requires_grad", "mask", "cluster", "__weakref__")

    def __init__(self, data, requires_grad=True):
        self.data = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        self.grad = np.zeros(self.data.shape, np.float32)  # calloc: pages untouched until used
        self.requires_grad = bool(requires_grad)
        self.mask = None
        self.cluster = None

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        _epoch[0] += 1

    @property
    def shape(self):
        return self.data.shape

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        self.grad.fill(0.0)

    def __repr__(self):
        rg = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}{rg})"


class Module:
    """Base class of all layers and models.

    ``inference_only`` (class attribute, False here) is True for layers without a backward (the
    sparse layers of fastnn.prune.to_sparse): fit refuses a model holding one before training."""

    inference_only = False
    _tape = True  # derives its backward from the calls its forward made (no own backward)
    _graph = None  # a container's node list (nn/_exec.py Graph); None: a leaf, run as one node
    _per_call = ()  # names of the attributes a call saves for its backward (see nn/_calls.py)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("_per_call", ()):
            setattr(cls, name, _calls.Saved(name))
        bw = cls.__dict__.get("backward")
        if bw is not None and not getattr(bw, "_fastnn_wrapped", False):
            setattr(cls, "backward", _wrap_backward(bw))
        cls._tape = bool(getattr(cls.backward, "_fastnn_tape", False))
        for klass in cls.__mro__:
            for name in klass.__dict__.get("_per_call", ()):
                _SAVED_SLOTS.setdefault((cls, name), getattr(cls, name))

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_training", True)

    @property
    def training(self):
        """The module's mode -- read as False in a thread running ``fastnn.inference_mode()``
        (predict/evaluate), whatever the flag, so inference never flips a model being trained."""
        return self._training and not _calls._tls.inference

    @training.setter
    def training(self, mode):
        object.__setattr__(self, "_training", bool(mode))
        _epoch[0] += 1

    # -- registration ---------------------------------------------------------------------------
    def __setattr__(self, name, value):
        saved = _SAVED_SLOTS.get((type(self), name))
        if saved is not None:  # per-call state (``_per_call``): straight to this call's record
            saved.__set__(self, value)
            return
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning "
                               "attributes")
        target = (self._parameters if isinstance(value, Parameter)
                  else self._modules if isinstance(value, Module) else None)
        for d in (self._parameters, self._buffers, self._modules):
            if d is not target:
                d.pop(name, None)
        if target is not None:
            target[name] = value  # a name already registered keeps its place, as in PyTorch
        object.__setattr__(self, name, value)
        _epoch[0] += 1

    def __delattr__(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        object.__delattr__(self, name)
        _epoch[0] += 1

    def register_buffer(self, name, value, dtype=np.float32):
        """An array saved in the state_dict but not trained (e.g. running statistics): float32,
        unless ``dtype`` names an integer type (e.g. the CSR indices of a sparse layer)."""
        dtype = np.dtype(dtype)
        if dtype != np.float32 and dtype.kind not in "iu":
            raise TypeError(f"{type(self).__name__}.register_buffer: dtype must be float32 or an "
                            f"integer type, got {dtype}")
        arr = None if value is None else np.ascontiguousarray(np.asarray(value, dtype))
        object.__setattr__(self, name, arr)
        self._buffers[name] = arr
        _epoch[0] += 1

    def set_buffer(self, name, value):
        """Replace a registered buffer's array (keeps registration and dtype in sync)."""
        if name not in self._buffers:
            raise KeyError(f"{type(self).__name__}: no buffer named {name!r}")
        old = self._buffers[name]
        self.register_buffer(name, value, np.float32 if old is None else old.dtype)

    # -- running --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if any(isinstance(a, _SymbolicBase) for a in args):  # building a graph: record a node
            from fastnn.nn.graph import symbolic_call
            return symbolic_call(self, args, kwargs)
        return _calls.run_forward(self, self.forward, args, kwargs)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *grad_out, input_grad=True):
        """d(loss)/d(inputs) from d(loss)/d(outputs). This default serves modules that define
        only ``forward`` (define-by-run): it replays, in reverse, the layer calls and functional
        ops that forward made (see nn/_calls.py). ``input_grad=False``: the caller does not want
        the input gradients (returns None; layers that can skip computing them do)."""
        out = _calls.tape_backward(self, grad_out)
        return out if input_grad else None

    backward._fastnn_tape = True

    def forward_fused(self, x, next_layer):
        """Fusion hook used by Sequential: return ``next_layer(self(x))`` computed in one step with
        both layers left ready for ``backward`` -- or None (the default) when this layer cannot
        absorb ``next_layer``. A Linear absorbs a following activation into its GEMM epilogue;
        results are the same bits as the unfused pair."""
        return None

    def train(self, mode=True):
        if self._training != bool(mode):
            _epoch[0] += 1
        object.__setattr__(self, "_training", bool(mode))
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- bf16 inference (fastnn/nn/_precision.py) --------------------------------------------------
    def to_bf16(self):
        """Mixed-precision inference: in eval mode every Linear and Conv2d of this module computes
        with bfloat16 operands and float32 sums (AMX tiles, avx512_bf16, or an emulation with a
        RuntimeWarning). Training, the weights, state_dicts and files stay float32; the mode is
        not saved. Returns self; ``to_float()`` undoes it. Details: fastnn/nn/_precision.py."""
        from fastnn.nn._precision import set_precision
        set_precision(self, "bf16")
        return self

    def to_float(self):
        """Undo ``to_bf16()``: every Linear and Conv2d computes in float32 again. Returns self."""
        from fastnn.nn._precision import set_precision
        set_precision(self, "float32")
        return self

    def __getstate__(self):  # copy/deepcopy/pickle: the pending calls of this thread stay here
        state = self.__dict__.copy()
        state.pop("_pending_calls", None)
        state.pop("_plan_cache", None)  # a compiled inference plan: rebuilt on the next call
        return state

    # -- traversal ------------------------------------------------------------------------------
    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix=""):
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for bname, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter of this module (transfer learning)."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self):
        """Ordered name -> float32 array copies; PyTorch's names ("0.weight", "3.running_var")."""
        sd = OrderedDict()
        for mname, m in self.named_modules():
            for pname, p in m._parameters.items():
                sd[f"{mname}.{pname}" if mname else pname] = p.data.copy()
            for bname, b in m._buffers.items():
                if b is not None:
                    sd[f"{mname}.{bname}" if mname else bname] = b.copy()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters and buffers. All keys and shapes are checked before anything
        is written, so a failed load leaves the module unchanged. PyTorch's ``num_batches_tracked``
        is accepted and ignored. Returns (missing_keys, unexpected_keys)."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a mapping, got {type(state_dict).__name__}")
        targets = {}
        for mname, m in self.named_modules():
            for pname, p in m._parameters.items():
                targets[f"{mname}.{pname}" if mname else pname] = ("param", m, pname, p.data.shape)
            for bname, b in m._buffers.items():
                if b is not None:
                    targets[f"{mname}.{bname}" if mname else bname] = ("buffer", m, bname, b.shape)
        given = {k: v for k, v in state_dict.items() if not str(k).endswith("num_batches_tracked")}
        missing = [k for k in targets if k not in given]
        unexpected = [k for k in given if k not in targets]
        if strict and (missing or unexpected):
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        staged = []
        for k, v in given.items():
            if k not in targets:
                continue
            kind, m, name, shape = targets[k]
            arr = np.asarray(_to_numpy(v))
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"{type(self).__name__}.load_state_dict: {k!r}: expected a real "
                                f"array, got dtype {arr.dtype}")
            if arr.shape != shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k!r}: expected shape "
                                 f"{shape}, got {arr.shape}")
            dtype = np.dtype(np.float32) if kind == "param" else m._buffers[name].dtype
            if dtype.kind in "iu":  # an integer buffer takes integers that fit, never rounded floats
                info = np.iinfo(dtype)
                if arr.dtype.kind not in "iub" or (arr.size and (arr.min() < info.min
                                                                 or arr.max() > info.max)):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {k!r}: expected "
                                     f"integers that fit {dtype}, got dtype {arr.dtype}")
            staged.append((kind, m, name, arr.astype(dtype)))
        for kind, m, name, arr in staged:
            if kind == "param":
                np.copyto(m._parameters[name].data, arr)
            else:
                m.set_buffer(name, arr)
        return missing, unexpected

    # -- architecture ---------------------------------------------------------------------------
    def get_config(self):
        """Constructor keyword arguments (JSON-able). Layers override."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_config(); register "
                                  "it with @fastnn.nn.register and define get_config to save it")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def to_spec(self):
        return {"class": type(self).__name__, "config": self.get_config()}

    # -- repr -----------------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _to_numpy(v):
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor, without importing torch
        return v.detach().cpu().numpy()
    return v


@register
class Sequential(Module):
    """Layers applied in order, as PyTorch's ``nn.Sequential``.

    ``Sequential(*layers)`` names the layers "0", "1", ... (state_dict keys "0.weight", ...);
    ``Sequential(OrderedDict([(name, layer), ...]))`` keeps the given names. As in PyTorch:
    ``model[i]`` (negative too), ``len(model)``, iteration; ``model[a:b]`` is a new Sequential
    sharing the layers and keeping their names (keys "2.weight", ... for ``model[2:]``);
    ``model[i] = layer`` replaces the layer in place under the same name; ``del model[i]`` and
    ``del model[a:b]`` remove layers and renumber the rest "0", "1", ... (PyTorch 2's behaviour),
    so state_dict keys stay those of the same edits in PyTorch. ``append`` adds under
    ``str(len(model))`` -- or, when that name is taken (a slice keeps its names), the next free
    number, never overwriting a layer.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = list(layers[0].items())
        else:
            items = [(str(i), layer) for i, layer in enumerate(layers)]
        for i, (name, layer) in enumerate(items):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module, got "
                                f"{type(layer).__name__}")
            self._check_name(name)
            setattr(self, name, layer)

    def _check_name(self, name):
        if not isinstance(name, str):
            raise TypeError(f"Sequential: layer names must be str, got {type(name).__name__}")
        if not name or "." in name:
            raise ValueError(f"Sequential: layer name {name!r} must be non-empty and without '.'")
        if name not in self._modules and (hasattr(type(self), name) or name in self.__dict__):
            raise ValueError(f"Sequential: layer name {name!r} is already an attribute")

    def _position(self, idx):
        """The position (0 <= i < len) that int-like ``idx`` names; negative counts from the end."""
        n = len(self._modules)
        try:
            i = operator.index(idx)
        except TypeError:
            raise TypeError(f"Sequential: index must be an int or a slice, got "
                            f"{type(idx).__name__}") from None
        if not -n <= i < n:
            raise IndexError(f"Sequential: index {i} is out of range for {n} layers")
        return i % n

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._position(idx)]

    def __setitem__(self, idx, layer):
        if isinstance(idx, slice):
            raise TypeError("Sequential: slice assignment is not supported (as in PyTorch); "
                            "assign one layer at a time, or delete the slice and append")
        name = list(self._modules)[self._position(idx)]
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential[{idx}] = layer: layer must be a fastnn.nn.Module, got "
                            f"{type(layer).__name__}")
        self._modules[name] = layer  # same name, same place
        object.__setattr__(self, name, layer)

    def __delitem__(self, idx):
        names = list(self._modules)
        gone = set(names[idx] if isinstance(idx, slice) else [names[self._position(idx)]])
        kept = [m for k, m in self._modules.items() if k not in gone]
        for k in names:
            self.__dict__.pop(k, None)
        self._modules.clear()
        for i, m in enumerate(kept):  # renumbered, as PyTorch does
            self._modules[str(i)] = m
            object.__setattr__(self, str(i), m)

    def append(self, layer):
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.append: layer must be a Module, got "
                            f"{type(layer).__name__}")
        n = len(self)
        while str(n) in self._modules:
            n += 1
        setattr(self, str(n), layer)
        return self

    _per_call = ("_node_records",)

    @property
    def _graph(self):
        """The chain of the layers (nn/_exec.py), rebuilt when the layers change."""
        cached = self.__dict__.get("_chain")
        key = tuple(self._modules.items())  # names and layers: any edit rebuilds the chain
        if cached is None or cached.key != key:
            cached = _exec.chain(list(self._modules), [m for _, m in key])
            cached.key = key
            object.__setattr__(self, "_chain", cached)
        return cached

    def forward(self, x):
        return _exec.run_forward(self, [x], "Sequential")[0]

    def backward(self, grad_out):
        return _exec.run_backward(self, [grad_out], "Sequential")[0]

    def rebuild(self, replace):
        """A new Sequential of the same layers with some nodes replaced: ``replace`` maps a
        position to a new layer, or to None to drop it (the rest are then renumbered "0", "1",
        ... as ``del`` does). Kept layers are shared; the mode is kept."""
        items = [(name, replace.get(i, layer))
                 for i, (name, layer) in enumerate(self._modules.items())]
        kept = [(name, m) for name, m in items if m is not None]
        if len(kept) != len(items):
            kept = [(str(j), m) for j, (_, m) in enumerate(kept)]
        new = Sequential(OrderedDict(kept))
        object.__setattr__(new, "_training", self._training)
        return new

    def get_config(self):
        config = {"layers": [m.to_spec() for m in self._modules.values()]}
        names = list(self._modules)
        if names != [str(i) for i in range(len(names))]:  # a slice, or OrderedDict names
            config["names"] = names
        return config

    @classmethod
    def from_config(cls, config):
        specs = config.get("layers")
        if not isinstance(specs, list):
            raise ValueError(f"Sequential: layers: expected a list of layer specs, got "
                             f"{_short(specs)}")
        layers = [module_from_config(s, f"layers[{i}]") for i, s in enumerate(specs)]
        names = config.get("names")
        if names is None:
            return cls(*layers)
        if (not isinstance(names, list) or len(names) != len(layers)
                or len(set(map(str, names))) != len(names)):
            raise ValueError(f"Sequential: config 'names' must list {len(layers)} distinct "
                             f"names, got {names!r}")
        return cls(OrderedDict(zip(names, layers)))


@register
class Residual(Module):
    """``x + block(x)``; the block's output must have the input's shape. A graph of two nodes:
    the block, then a join (``nn.merge.ResidualAdd``) of the input and the block's output."""

    _per_call = ("_node_records",)

    def __init__(self, block):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a Module, got {type(block).__name__}")
        self.block = block

    @property
    def _graph(self):
        cached = self.__dict__.get("_pair")
        if cached is None or cached.nodes[0][0] is not self.block:
            from fastnn.nn.merge import ResidualAdd
            join = ResidualAdd() if cached is None else cached.nodes[1][0]
            cached = _exec.Graph([(self.block, (0,), (1,)), (join, (0, 1), (2,))],
                                 ["block", ""], 1, (2,))
            object.__setattr__(self, "_pair", cached)
        return cached

    def forward(self, x):
        return _exec.run_forward(self, [x], "Residual")[0]

    def backward(self, grad_out):
        return _exec.run_backward(self, [grad_out], "Residual")[0]

    def rebuild(self, replace):
        """A new Residual around ``replace[0]`` (a new block); its join cannot be replaced."""
        if set(replace) - {0} or replace.get(0, self.block) is None:
            raise ValueError(f"Residual.rebuild: only node 0 (the block) can be replaced, by a "
                             f"Module; got {replace!r}")
        new = Residual(replace.get(0, self.block))
        object.__setattr__(new, "_training", self._training)
        return new

    def get_config(self):
        return {"block": self.block.to_spec()}

    @classmethod
    def from_config(cls, config):
        if "block" not in config:
            raise ValueError("Residual: config: missing 'block'")
        return cls(module_from_config(config["block"], "block"))

