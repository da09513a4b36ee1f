"""Base class of the fused optimizers.

Design (see csrc/frame/optim.cpp):
  * State lives in flat float32 buffers, one per state kind (e.g. Adam's ``exp_avg`` and
    ``exp_avg_sq``), all parameters concatenated in order; plus one int64 step counter per
    parameter (torch keeps a step per parameter, and bias corrections depend on it).
  * A C++ descriptor table (pointers, sizes, offsets, group of every parameter) is built once and
    rebuilt only when a parameter's ``data``, ``grad`` or ``mask`` array object, or its
    ``requires_grad``, changes.
  * ``step()`` reads each group's hyper-parameters from its dict (so schedulers can change
    ``lr``) and makes ONE threaded C++ pass over all trainable parameters: param, grad and state
    are read once and written once. Frozen parameters (``requires_grad=False``) are skipped.

Subclasses set ``_kind`` (a ``_C.OptimKind``), ``_slots`` (state buffer names, C++ slots s0..s2),
``_options`` (constructor defaults) and implement ``_hyper(group)`` (-> ``_C.OptimHyper``, the
group's values by name) and ``_needs(group)``.
"""
import math
import numbers

import numpy as np

from fastnn import _C
from fastnn.nn.module import Parameter

# Keys a scheduler or the user may add to a param group beside the optimizer's own options.
_PASSTHROUGH_KEYS = ("initial_lr",)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class Optimizer:
    """Common machinery: parameter groups, the fused C++ step, zero_grad, state_dict, ``lr``."""

    _kind = None
    _slots = (None, None, None)
    _options = {}
    _bool_options = ()

    def __init__(self, params, defaults):
        name = type(self).__name__
        self.defaults = dict(defaults)
        self._validate_group(self.defaults, "arguments")
        groups = self._parse_params(params)
        self.param_groups = []
        self._params = []
        seen = set()
        for gi, g in enumerate(groups):
            unknown = [k for k in g if k != "params" and k not in self._options
                       and k not in _PASSTHROUGH_KEYS]
            if unknown:
                raise ValueError(f"{name}: param_groups[{gi}]: unknown option(s) {unknown}; "
                                 f"options are {sorted(self._options)}")
            full = dict(self.defaults)
            full.update({k: v for k, v in g.items() if k != "params"})
            self._validate_group(full, f"param_groups[{gi}]", gi)
            for p in g["params"]:
                if id(p) in seen:
                    raise ValueError(f"{name}: params: a parameter appears more than once "
                                     f"(param_groups[{gi}])")
                seen.add(id(p))
            full["params"] = list(g["params"])
            self._params.extend(full["params"])
            self.param_groups.append(full)
        # Each group's parameter list as built: step() refuses groups added, removed or re-pointed
        # (they would be ignored silently: the C++ table is built from these lists).
        self._group_params = [g["params"] for g in self.param_groups]
        self._allowed_keys = frozenset(self._options) | {"params", *_PASSTHROUGH_KEYS}
        self._shapes = [tuple(p.data.shape) for p in self._params]
        self._group_of = [gi for gi, g in enumerate(self.param_groups) for _ in g["params"]]
        self._total = int(sum(p.data.size for p in self._params))
        self._steps = np.zeros(len(self._params), dtype=np.int64)
        self._n_steps = 0
        self._buffers = self._new_buffers(self.param_groups)
        self._table = None
        self._build_table()

    # -- construction helpers ---------------------------------------------------------------------
    @classmethod
    def _reject_unknown(cls, kwargs):
        if kwargs:
            raise ValueError(f"{cls.__name__}: unknown option(s) {sorted(kwargs)}; options are "
                             f"{sorted(cls._options)}")

    def _parse_params(self, params):
        name = type(self).__name__
        if isinstance(params, (Parameter, dict)):
            params = [params]
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{name}: params: expected an iterable of Parameters or of param "
                            f"group dicts, got {type(params).__name__}") from None
        if not items:
            raise ValueError(f"{name}: params: got an empty parameter list")
        if all(isinstance(x, dict) for x in items):
            groups = []
            for gi, g in enumerate(items):
                if "params" not in g:
                    raise ValueError(f"{name}: param_groups[{gi}]: missing the 'params' key")
                ps = g["params"]
                ps = [ps] if isinstance(ps, Parameter) else list(ps)
                if not ps:
                    raise ValueError(f"{name}: param_groups[{gi}]: 'params' is empty")
                groups.append(dict(g, params=ps))
        elif any(isinstance(x, dict) for x in items):
            raise TypeError(f"{name}: params: mix of Parameters and param group dicts")
        else:
            groups = [{"params": items}]
        for gi, g in enumerate(groups):
            for p in g["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"{name}: params: expected fastnn.nn.Parameter, got "
                                    f"{type(p).__name__} (param_groups[{gi}])")
        return groups

    def _types_ok(self, g):
        """The quick per-step check: every option present and no other key, numbers are real
        numbers and flags are bools (ranges are checked in C++ on every step)."""
        if len(g) != len(self._options) + 1 + sum(k in g for k in _PASSTHROUGH_KEYS) \
                or not g.keys() <= self._allowed_keys:
            return False
        for k in self._options:
            v = g[k]
            if k in self._bool_options:
                if not isinstance(v, (bool, np.bool_)):
                    return False
            elif k == "betas":
                if not isinstance(v, (tuple, list)) or not all(_is_real(b) for b in v):
                    return False
            elif not (_is_real(v) or (k == "max_norm" and v is None)):
                return False
        return True

    def _check_keys(self, g, where):
        """A param group holds the optimizer's options (all of them), ``params`` and the
        scheduler's ``initial_lr``; nothing else -- as the constructor accepts."""
        name = type(self).__name__
        unknown = sorted(map(str, set(g) - self._allowed_keys))
        if unknown:
            raise ValueError(f"{name}: {where}: unknown option(s) {unknown}; options are "
                             f"{sorted(self._options)}")
        missing = [k for k in self._options if k not in g]
        if missing:
            raise ValueError(f"{name}: {where}: missing option(s) {missing}")

    def _check_groups(self):
        """param_groups still has the groups and parameters the optimizer was built with, each
        group a dict of known options (the step's slow path, and state_dict)."""
        name = type(self).__name__
        groups = self.param_groups
        if not isinstance(groups, list):
            raise TypeError(f"{name}: param_groups: expected a list, got {type(groups).__name__}")
        if len(groups) != len(self._group_params):
            raise ValueError(f"{name}: param_groups: expected the {len(self._group_params)} "
                             f"group(s) the optimizer was built with, got {len(groups)}; to train "
                             "other parameters, build a new optimizer")
        for gi, (g, built) in enumerate(zip(groups, self._group_params)):
            if not isinstance(g, dict):
                raise TypeError(f"{name}: param_groups[{gi}]: expected a dict, got "
                                f"{type(g).__name__}")
            ps = g.get("params")
            if ps is not built and (not isinstance(ps, list) or len(ps) != len(built)
                                    or any(a is not b for a, b in zip(ps, built))):
                raise ValueError(f"{name}: param_groups[{gi}]: params: not the parameters the "
                                 "optimizer was built with; to train other parameters, build a "
                                 "new optimizer")
            self._check_keys(g, f"param_groups[{gi}]")

    def _validate_group(self, g, where, index=0):
        """Types here, ranges in C++ (the same check runs before every step)."""
        name = type(self).__name__
        lr0 = g.get("initial_lr", 0.0)  # a scheduler's record of the group's first lr
        if not _is_real(lr0) or not (lr0 >= 0) or not math.isfinite(lr0):
            raise ValueError(f"{name}: initial_lr: expected a finite value >= 0, got {lr0!r} "
                             f"({where})")
        for k, default in self._options.items():
            v = g.get(k, default)
            if k in self._bool_options:
                if not isinstance(v, (bool, np.bool_)):
                    raise TypeError(f"{name}: {k}: expected a bool, got {v!r} ({where})")
            elif k == "betas":
                if (not isinstance(v, (tuple, list)) or len(v) != 2
                        or not all(_is_real(b) for b in v)):
                    raise ValueError(f"{name}: betas: expected a pair of floats, got {v!r} "
                                     f"({where})")
            elif k == "max_norm":
                if v is not None and (not _is_real(v) or not (v > 0) or math.isinf(v)):
                    raise ValueError(f"{name}: max_norm: expected a finite value > 0 or None, "
                                     f"got {v!r} ({where})")
            elif not _is_real(v):
                raise TypeError(f"{name}: {k}: expected a real number, got {v!r} ({where})")
            elif k == "initial_accumulator_value" and not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name}: initial_accumulator_value: expected a finite value "
                                 f">= 0, got {v!r} ({where})")
        full = dict(self._options)
        full.update(g)
        _C.optim_check_group(self._kind, self._hyper(full), index)

    def _new_buffers(self, groups):
        need = [False, False, False]
        for g in groups:
            for w, n in enumerate(self._needs(g)):
                need[w] = need[w] or n
        bufs = {}
        for w, slot in enumerate(self._slots):
            if slot is not None and need[w]:
                bufs[slot] = self._initial_buffer(slot, groups)
        return bufs

    def _initial_buffer(self, slot, groups):
        return np.zeros(self._total, dtype=np.float32)

    # -- the descriptor table -----------------------------------------------------------------------
    def _build_table(self):
        ps = self._params
        for i, p in enumerate(ps):
            if tuple(p.data.shape) != self._shapes[i]:
                raise ValueError(f"{type(self).__name__}: params[{i}]: shape changed from "
                                 f"{self._shapes[i]} to {tuple(p.data.shape)} since the "
                                 "optimizer was built")
        active = [bool(p.requires_grad) and p.grad is not None for p in ps]
        self._table = _C.OptimTable(
            self._kind, [p.data for p in ps], [p.grad for p in ps], [p.mask for p in ps],
            self._group_of, active, [self._buffers.get(s) for s in self._slots], self._steps)
        self._sig = [(p.data, p.grad, p.mask, p.requires_grad) for p in ps]

    def _ensure_table(self):
        for p, (d, g, m, rg) in zip(self._params, self._sig):
            if p.data is not d or p.grad is not g or p.mask is not m or p.requires_grad != rg:
                self._build_table()
                return

    # -- public API ---------------------------------------------------------------------------------
    def step(self, closure=None):
        """One fused update of every trainable parameter. ``closure`` (optional) re-evaluates the
        model and returns the loss, as in torch; it runs before the update."""
        loss = closure() if closure is not None else None
        self._ensure_table()
        try:
            # Types first: float() in _hyper would take lr="0.1" (a string) without a word.
            groups = self.param_groups
            if (type(groups) is not list or len(groups) != len(self._group_params)
                    or not all(type(g) is dict and g.get("params") is ps and self._types_ok(g)
                               for g, ps in zip(groups, self._group_params))):
                raise TypeError
            hyper = [self._hyper(g) for g in groups]
        except (KeyError, TypeError, ValueError, AttributeError):
            self._check_groups()
            for gi, g in enumerate(self.param_groups):
                self._validate_group(g, f"param_groups[{gi}]", gi)
            raise
        self._table.step(hyper)
        if any(p.cluster is not None for p in self._params):  # weight sharing (fastnn.compress)
            from fastnn.compress._cluster import cluster_step
            cluster_step(self._params)
        self._n_steps += 1
        return loss

    def zero_grad(self, set_to_none=None):
        """Set every parameter's gradient to zero (one threaded C++ pass). ``set_to_none`` is
        accepted for torch compatibility; gradients are always zeroed in place, because layers
        accumulate into the existing arrays."""
        self._ensure_table()
        self._table.zero_grad()

    @property
    def lr(self):
        """The learning rate of the first param group; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        if not _is_real(value) or not (value >= 0) or not math.isfinite(value):
            raise ValueError(f"{type(self).__name__}: lr: expected a finite value >= 0, got "
                             f"{value!r}")
        for g in self.param_groups:
            g["lr"] = float(value)

    @property
    def state(self):
        """Read-only views of the flat state buffers and the per-parameter step counters."""
        out = {k: v.view() for k, v in self._buffers.items()}
        out["step"] = self._steps.view()
        for v in out.values():
            v.flags.writeable = False
        return out

    def state_dict(self):
        """Everything needed to resume exactly. Leaves are JSON-able scalars, strings and lists,
        or numpy arrays (the flat state buffers, copied, and the per-parameter steps)."""
        self._check_groups()  # never write what load_state_dict would refuse
        for gi, g in enumerate(self.param_groups):
            self._validate_group(g, f"param_groups[{gi}]", gi)
        groups, start = [], 0
        for g in self.param_groups:
            d = {k: _jsonable(v) for k, v in g.items() if k != "params"}
            d["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(d)
        state = {k: v.copy() for k, v in self._buffers.items()}
        state["step"] = self._steps.copy()
        return {"type": type(self).__name__, "param_groups": groups, "step": int(self._n_steps),
                "param_shapes": [list(s) for s in self._shapes], "state": state}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``. Everything is checked first; on any error a ValueError (or
        TypeError) names what is wrong and the optimizer is left unchanged."""
        name = type(self).__name__
        sd = state_dict
        if not hasattr(sd, "keys"):
            raise TypeError(f"{name}.load_state_dict: expected a mapping, got {type(sd).__name__}")
        for key in ("type", "param_groups", "state"):
            if key not in sd:
                raise ValueError(f"{name}.load_state_dict: missing key {key!r}")
        if sd["type"] != name:
            raise ValueError(f"{name}.load_state_dict: type: expected {name!r}, got "
                             f"{_short(sd['type'])}")
        shapes = sd.get("param_shapes")
        if shapes is not None:
            if not isinstance(shapes, (list, tuple)) or not all(
                    isinstance(s, (list, tuple)) and all(_is_int(d) for d in s) for s in shapes):
                raise ValueError(f"{name}.load_state_dict: param_shapes: expected a list of "
                                 f"shapes (lists of ints), got {_short(shapes)}")
            got = [tuple(int(d) for d in s) for s in shapes]
            if got != self._shapes:
                raise ValueError(f"{name}.load_state_dict: param_shapes: expected "
                                 f"{[list(s) for s in self._shapes]}, got {[list(s) for s in got]}")
        groups = sd["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != len(self._group_params):
            n = len(groups) if isinstance(groups, (list, tuple)) else _short(groups)
            raise ValueError(f"{name}.load_state_dict: param_groups: expected a list of "
                             f"{len(self._group_params)} groups, got {n}")
        new_groups, start = [], 0
        for gi, (built, saved) in enumerate(zip(self._group_params, groups)):
            where = f"{name}.load_state_dict: param_groups[{gi}]"
            if not isinstance(saved, dict):
                raise TypeError(f"{where}: expected a dict, got {type(saved).__name__}")
            n = len(built)
            want = list(range(start, start + n))
            start += n
            if saved.get("params", want) != want:
                raise ValueError(f"{where}: params: expected indices {want}, got "
                                 f"{_short(saved.get('params'))}")
            g = {k: (tuple(v) if k == "betas" and isinstance(v, (list, tuple)) else v)
                 for k, v in saved.items() if k != "params"}
            self._check_keys(dict(g, params=None), f"state_dict param_groups[{gi}]")
            self._validate_group(g, f"state_dict param_groups[{gi}]", gi)
            new_groups.append(g)
        state = sd["state"]
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise TypeError(f"{name}.load_state_dict: state: expected a mapping, got "
                            f"{type(state).__name__}")
        need = {s for w, s in enumerate(self._slots) if s is not None
                and any(self._needs(g)[w] for g in new_groups)}
        unexpected = sorted(set(state) - need - {"step"})
        missing = sorted(need - set(state)) + ([] if "step" in state else ["step"])
        if missing or unexpected:
            raise ValueError(f"{name}.load_state_dict: state: missing {missing}, unexpected "
                             f"{unexpected}")
        bufs = {}
        for k in need:
            arr = np.asarray(state[k])
            if arr.dtype.kind != "f":
                raise TypeError(f"{name}.load_state_dict: state[{k!r}]: expected a float array, "
                                f"got dtype {arr.dtype}")
            if arr.shape != (self._total,):
                raise ValueError(f"{name}.load_state_dict: state[{k!r}]: expected shape "
                                 f"({self._total},), got {arr.shape}")
            bufs[k] = np.array(arr, dtype=np.float32, order="C", copy=True)
        steps = np.asarray(state["step"])
        if steps.dtype.kind == "f" and np.isfinite(steps).all() \
                and np.array_equal(steps, np.round(steps)) and (np.abs(steps) < 2**62).all():
            steps = steps.astype(np.int64)  # a serialiser that stores every array as float
        if steps.dtype.kind not in "iu" or steps.shape != (len(self._params),) or (steps < 0).any():
            raise ValueError(f"{name}.load_state_dict: state['step']: expected "
                             f"{len(self._params)} non-negative integers, got {steps.dtype} "
                             f"array of shape {steps.shape}")
        n_steps = sd.get("step", int(steps.max(initial=0)))
        if not _is_int(n_steps) or n_steps < 0:
            raise ValueError(f"{name}.load_state_dict: step: expected an int >= 0, got "
                             f"{n_steps!r}")
        # Commit (nothing below can fail on checked input). The group dicts are updated in place
        # (a reference to one stays valid), with the parameter lists the optimizer was built with.
        if not isinstance(self.param_groups, list) or len(self.param_groups) != len(new_groups):
            self.param_groups = [{} for _ in new_groups]
        for gi, (g, built) in enumerate(zip(new_groups, self._group_params)):
            if not isinstance(self.param_groups[gi], dict):
                self.param_groups[gi] = {}
            mine = self.param_groups[gi]
            mine.clear()
            mine.update(g)
            mine["params"] = built
        self._buffers = bufs
        self._steps = steps.astype(np.int64, copy=True)
        self._n_steps = int(n_steps)
        self._build_table()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for gi, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {gi}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"

    # -- subclass hooks -----------------------------------------------------------------------------
    def _hyper(self, g):
        """The group's hyper-parameters as a ``_C.OptimHyper`` (fields named as ops.h
        OptimGroup's; those the optimizer does not use stay 0 / False)."""
        raise NotImplementedError

    def _needs(self, g):
        """Which of the three state slots this group's options use."""
        raise NotImplementedError
