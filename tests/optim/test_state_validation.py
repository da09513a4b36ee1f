"""Lenient state is refused: a param-group option of the wrong type at step(), and every saved
entry of an optimizer's or scheduler's state_dict on load -- checked as the constructors check
them, naming the field, leaving the object unchanged. Every class is found by introspection, so
a new optimizer or scheduler cannot be missed."""
import copy
import inspect

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.optim import lr_scheduler as S

OPTIMIZERS = sorted({c for _, c in inspect.getmembers(optim, inspect.isclass)
                     if issubclass(c, optim.Optimizer) and c is not optim.Optimizer},
                    key=lambda c: c.__name__)
SCHEDULERS = sorted({c for _, c in inspect.getmembers(S, inspect.isclass)
                     if issubclass(c, S.LRScheduler) and c is not S.LRScheduler},
                    key=lambda c: c.__name__)
MAKE = {"StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
        "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.9),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=5),
        "LinearWarmup": lambda o: S.LinearWarmup(o, warmup_steps=3),
        "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1)}


def _model():
    fastnn.manual_seed(0)
    m = nn.Linear(3, 2)
    for p in m.parameters():
        p.grad[...] = 0.5
    return m


def test_every_class_is_covered():
    assert {c.__name__ for c in SCHEDULERS} == set(MAKE)
    for cls in SCHEDULERS:
        missing = set(cls._state_keys) - set(cls._state_checks)
        assert not missing, f"{cls.__name__}: no load check for {missing}"


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_step_refuses_an_option_of_the_wrong_type(cls):
    for key, default in cls._options.items():
        m = _model()
        opt = cls(m.parameters(), lr=0.1)
        before = [p.data.copy() for p in m.parameters()]
        opt.param_groups[0][key] = "0.1"
        with pytest.raises((TypeError, ValueError), match=rf"{cls.__name__}: {key}: expected"):
            opt.step()
        for p, b in zip(m.parameters(), before):
            np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_load_refuses_an_option_of_the_wrong_type(cls):
    m = _model()
    opt = cls(m.parameters(), lr=0.1)
    opt.step()
    good = opt.state_dict()
    for key in cls._options:
        bad = copy.deepcopy(good)
        bad["param_groups"][0][key] = "0.1"
        with pytest.raises((TypeError, ValueError), match=key):
            opt.load_state_dict(bad)
        assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("cls", SCHEDULERS, ids=lambda c: c.__name__)
def test_scheduler_load_checks_every_entry(cls):
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    sched = MAKE[cls.__name__](opt)
    good = sched.state_dict()
    snapshot = repr({k: v for k, v in vars(sched).items() if k != "optimizer"})
    tried = 0
    for key in good:
        if key in ("type", "after"):
            continue
        for value in ("x", -2, float("nan"), [None]):
            if key == "best" and value == -2:
                continue  # any finite number is a valid best metric
            bad = dict(good)
            bad[key] = value
            with pytest.raises((TypeError, ValueError), match=key):
                sched.load_state_dict(bad)
            now = repr({k: v for k, v in vars(sched).items() if k != "optimizer"})
            assert now == snapshot, key  # unchanged (compared as repr: NaN-safe)
            tried += 1
    keys = [k for k in good if k not in ("type", "after")]
    assert tried == 4 * len(keys) - ("best" in keys) and len(keys) >= 5
    sched.load_state_dict(good)  # the good one still loads


def test_the_probe_cases():
    opt = optim.SGD(_model().parameters(), lr=0.1)
    sched = S.StepLR(opt, step_size=2)
    sd = sched.state_dict()
    with pytest.raises(ValueError, match="last_epoch"):
        sched.load_state_dict(dict(sd, last_epoch="x"))
    with pytest.raises(ValueError, match="gamma"):
        sched.load_state_dict(dict(sd, gamma=-1))
