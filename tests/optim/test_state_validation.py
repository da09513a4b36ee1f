"""Lenient state is refused (issue 11, item 10): a param group edited into something the
constructor would refuse (lr="0.1", a key removed or unknown, a group added, other parameters)
at step(), and every entry of an optimizer's or scheduler's state_dict on load_state_dict --
checked as the constructors check them, TypeError or ValueError naming the field, the object
left unchanged. The classes are found by walking the whole fastnn package for subclasses of
Optimizer and LRScheduler, so a new one cannot be missed."""
import copy
import importlib
import math
import pkgutil

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.optim import lr_scheduler as S


def _subclasses(base):
    for info in pkgutil.walk_packages(fastnn.__path__, "fastnn."):
        if not info.name.endswith("__main__"):  # the CLI
            importlib.import_module(info.name)
    found, todo = set(), [base]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            if c.__module__.startswith("fastnn.") and not c.__name__.startswith("_"):
                found.add(c)
    return sorted(found, key=lambda c: c.__name__)


OPTIMIZERS = _subclasses(optim.Optimizer)
SCHEDULERS = _subclasses(S.LRScheduler)
# How to build each scheduler (a class missing here fails test_every_class_is_covered), and the
# nested configurations of LinearWarmup.
MAKE = {"StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
        "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.9),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=5),
        "LinearWarmup": lambda o: S.LinearWarmup(o, warmup_steps=3),
        "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1)}
CONFIGS = dict(MAKE, **{
    "LinearWarmup+StepLR": lambda o: S.LinearWarmup(o, 2, after=S.StepLR(o, 2, gamma=0.5)),
    "LinearWarmup+ReduceLROnPlateau": lambda o: S.LinearWarmup(o, 2,
                                                               after=S.ReduceLROnPlateau(o))})
BAD_VALUES = ["0.1", True, None, [], {}, -1, 2**64, math.nan, math.inf, 1e300]


def _model():
    fastnn.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    for p in m.parameters():
        p.grad[...] = 0.5
    return m


def _optimizer(cls, model, groups=True):
    """``cls`` over two param groups, with every state buffer its options can use."""
    ps = list(model.parameters())
    extra = {"SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.9, "centered": True},
             "Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True}}.get(cls.__name__, {})
    if not groups:
        return cls(ps, lr=0.1, **extra)
    return cls([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], lr=0.1, **extra)


def _optimizer_snapshot(opt):
    return (repr(opt.param_groups), {k: v.copy() for k, v in opt._buffers.items()},
            opt._steps.copy(), opt._n_steps, [id(g) for g in opt.param_groups])


def _same(a, b):
    assert a[0] == b[0] and a[3] == b[3] and a[4] == b[4]
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])
    np.testing.assert_array_equal(a[2], b[2])


def _nodes(obj, path=()):
    """Every node of a nested state dict (key and index paths), the root excluded."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for k, v in items:
        yield path + (k,)
        yield from _nodes(v, path + (k,))


def _mutated(sd, path, value):
    sd = copy.deepcopy(sd)
    parent = sd
    for k in path[:-1]:
        parent = parent[k]
    if value is KeyError:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return sd


def test_every_class_is_covered():
    assert {c.__name__ for c in OPTIMIZERS} == {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW"}
    assert {c.__name__ for c in SCHEDULERS} == set(MAKE)
    for cls in SCHEDULERS:
        missing = set(cls._state_keys) - set(cls._state_checks)
        assert not missing, f"{cls.__name__}: no load check for {missing}"


# -- optimizers: step() after the param groups were edited -----------------------------------------
EDITS = {
    "lr='0.1'": (lambda o: o.param_groups[0].update(lr="0.1"), TypeError, r"lr: expected"),
    "lr=nan": (lambda o: o.param_groups[1].update(lr=math.nan), ValueError, "lr"),
    "lr removed": (lambda o: o.param_groups[0].pop("lr"), ValueError,
                   r"param_groups\[0\]: missing option\(s\) \['lr'\]"),
    "unknown key": (lambda o: o.param_groups[1].update(foo=1), ValueError,
                    r"param_groups\[1\]: unknown option\(s\) \['foo'\]"),
    "group not a dict": (lambda o: o.param_groups.__setitem__(0, 5), TypeError,
                         r"param_groups\[0\]: expected a dict"),
    "group added": (lambda o: o.param_groups.append(dict(o.param_groups[0], params=[])),
                    ValueError, "param_groups: expected the 2 group"),
    "group removed": (lambda o: o.param_groups.pop(), ValueError,
                      "param_groups: expected the 2 group"),
    "param_groups None": (lambda o: setattr(o, "param_groups", None), TypeError,
                          "param_groups: expected a list"),
    "params replaced": (lambda o: o.param_groups[0].update(params=[nn.Parameter(np.ones(3))]),
                        ValueError, r"param_groups\[0\]: params: not the parameters"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_step_refuses_an_edited_group(cls, edit):
    change, exc, match = EDITS[edit]
    m = _model()
    opt = _optimizer(cls, m)
    before = [p.data.copy() for p in m.parameters()]
    change(opt)
    with pytest.raises(exc, match=match):
        opt.step()
    for p, b in zip(m.parameters(), before):
        np.testing.assert_array_equal(p.data, b)  # no parameter moved
    with pytest.raises(exc, match=match):
        opt.state_dict()  # nor is the broken group saved


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_step_refuses_an_option_of_the_wrong_type(cls):
    for key in cls._options:
        m = _model()
        opt = _optimizer(cls, m)
        before = [p.data.copy() for p in m.parameters()]
        opt.param_groups[1][key] = "0.1"
        with pytest.raises((TypeError, ValueError), match=rf"{cls.__name__}: {key}: expected"):
            opt.step()
        for p, b in zip(m.parameters(), before):
            np.testing.assert_array_equal(p.data, b)


# -- optimizers: load_state_dict of every field mutated --------------------------------------------
@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_load_checks_every_field_and_changes_nothing_on_failure(cls):
    m = _model()
    opt = _optimizer(cls, m)
    opt.step()
    good = opt.state_dict()
    snapshot = _optimizer_snapshot(opt)
    tried = refused = 0
    for path in list(_nodes(good)):
        for value in BAD_VALUES + [KeyError]:
            bad = _mutated(good, path, value)
            tried += 1
            try:
                opt.load_state_dict(bad)
            except (TypeError, ValueError) as e:
                refused += 1
                _same(_optimizer_snapshot(opt), snapshot)
                named = [str(k) for k in path if isinstance(k, str)] or ["param_groups"]
                assert any(k in str(e) for k in named), (path, value, str(e))
                continue
            # Accepted: only a value the constructor accepts too (e.g. weight_decay=1e300, or
            # an optional entry removed); the optimizer still steps or refuses with a message.
            try:
                opt.step()
            except (TypeError, ValueError):
                pass
            opt.load_state_dict(good)
            snapshot = _optimizer_snapshot(opt)
    assert tried > 200 and refused > tried // 2, (tried, refused)


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_load_refuses_an_option_of_the_wrong_type(cls):
    m = _model()
    opt = _optimizer(cls, m)
    opt.step()
    good = opt.state_dict()
    for key in cls._options:
        bad = copy.deepcopy(good)
        bad["param_groups"][0][key] = "0.1"
        with pytest.raises((TypeError, ValueError), match=key):
            opt.load_state_dict(bad)
        assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_load_repairs_edited_groups(cls):
    # A good state dict restores param_groups even after they were damaged, keeping the group
    # dicts (a reference to one stays valid) and the parameters the optimizer was built with.
    m = _model()
    opt = _optimizer(cls, m)
    opt.step()
    good = opt.state_dict()
    first = opt.param_groups[0]
    opt.param_groups[0]["lr"] = "0.1"
    opt.param_groups[1] = 5
    opt.load_state_dict(good)
    assert opt.param_groups[0] is first and first["lr"] == 0.1
    opt.step()


# -- schedulers ---------------------------------------------------------------------------------
def _scheduler_snapshot(s):
    state = {k: v for k, v in vars(s).items() if k not in ("optimizer", "after")}
    nested = "" if getattr(s, "after", None) is None else _scheduler_snapshot(s.after)
    return repr(state) + nested + repr(s.optimizer.param_groups)  # repr: NaN-safe


def _advance(sched, opt, n=3):
    for _ in range(n):
        opt.step()
        sched.step(1.0) if sched.requires_metric else sched.step()


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_scheduler_load_checks_every_field(config):
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    sched = CONFIGS[config](opt)
    _advance(sched, opt)
    good = sched.state_dict()
    snapshot = _scheduler_snapshot(sched)
    tried = refused = 0
    for path in list(_nodes(good)):
        for value in BAD_VALUES + [KeyError]:
            bad = _mutated(good, path, value)
            tried += 1
            try:
                sched.load_state_dict(bad)
            except (TypeError, ValueError) as e:
                refused += 1
                assert _scheduler_snapshot(sched) == snapshot, (path, value)
                named = [str(k) for k in path if isinstance(k, str)]
                assert all(k in str(e) for k in named), (path, value, str(e))
                continue
            # Accepted: a value the constructor accepts too (gamma=1e300, best=-1, ...): the
            # schedule runs on, and the optimizer refuses a learning rate it cannot use.
            try:
                _advance(sched, opt)
            except (TypeError, ValueError) as e:
                assert "lr" in str(e)
            sched.load_state_dict(good)
            snapshot = _scheduler_snapshot(sched)
    assert tried >= 5 * len(BAD_VALUES) and refused > tried // 2, (tried, refused)
    sched.load_state_dict(good)


@pytest.mark.parametrize("cls", SCHEDULERS, ids=lambda c: c.__name__)
def test_scheduler_load_refuses_junk_in_every_saved_setting(cls):
    opt = optim.SGD(_model().parameters(), lr=0.1)
    sched = MAKE[cls.__name__](opt)
    good = sched.state_dict()
    for key in [k for k in good if k not in ("type", "after")]:
        for value in ("x", float("nan"), [None]):
            with pytest.raises((TypeError, ValueError), match=key):
                sched.load_state_dict(dict(good, **{key: value}))


def test_the_probe_cases():
    opt = optim.SGD(_model().parameters(), lr=0.1)
    opt.param_groups[0]["lr"] = "0.1"
    with pytest.raises(TypeError, match=r"SGD: lr: expected a real number, got '0\.1'"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.1
    sched = S.StepLR(opt, step_size=2)
    sd = sched.state_dict()
    with pytest.raises(ValueError, match="last_epoch"):
        sched.load_state_dict(dict(sd, last_epoch="x"))
    with pytest.raises(ValueError, match="gamma"):
        sched.load_state_dict(dict(sd, gamma=-1))
    warm = S.LinearWarmup(opt, 2, after=S.StepLR(opt, 2))
    sd = warm.state_dict()
    with pytest.raises(ValueError, match="LinearWarmup.load_state_dict: after: .*gamma"):
        warm.load_state_dict(dict(sd, after=dict(sd["after"], gamma=-1)))
