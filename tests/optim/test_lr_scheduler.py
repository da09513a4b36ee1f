"""Learning-rate schedules against torch.optim.lr_scheduler and against their closed forms."""
import json
import math

import numpy as np
import pytest

from fastnn import optim
from fastnn.nn import Parameter
from fastnn.optim import lr_scheduler as S

N_STEPS = 40


def make_opt(lrs=(0.1, 0.02)):
    groups = [{"params": [Parameter(np.zeros(3, np.float32))], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0], momentum=0.9)


def torch_opt(torch, lrs=(0.1, 0.02)):
    groups = [{"params": [torch.zeros(3, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def trace(sched, n=N_STEPS, metrics=None):
    out = [sched.get_last_lr()]
    for i in range(n):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(sched.get_last_lr())
    return np.array(out)


CASES = {
    "step": (lambda o: S.StepLR(o, step_size=7, gamma=0.5),
             lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    "exp": (lambda o: S.ExponentialLR(o, gamma=0.9),
            lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=12, eta_min=1e-3),
               lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=1e-3)),
    "warmup": (lambda o: S.LinearWarmup(o, warmup_steps=6, start_factor=0.25),
               lambda t, o: t.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0,
                                                          total_iters=6)),
    "warmup+cosine": (
        lambda o: S.LinearWarmup(o, 5, 0.1, after=S.CosineAnnealingLR(o, T_max=15)),
        lambda t, o: t.optim.lr_scheduler.SequentialLR(
            o, [t.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 5),
                t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=15)], milestones=[5])),
    "warmup+step": (
        lambda o: S.LinearWarmup(o, warmup_epochs=3, start_factor=0.5,
                                 after=S.StepLR(o, 4, 0.3)),
        lambda t, o: t.optim.lr_scheduler.SequentialLR(
            o, [t.optim.lr_scheduler.LinearLR(o, 0.5, 1.0, 3),
                t.optim.lr_scheduler.StepLR(o, 4, 0.3)], milestones=[3])),
    "warmup+exp": (
        lambda o: S.LinearWarmup(o, 4, 0.2, after=S.ExponentialLR(o, 0.8)),
        lambda t, o: t.optim.lr_scheduler.SequentialLR(
            o, [t.optim.lr_scheduler.LinearLR(o, 0.2, 1.0, 4),
                t.optim.lr_scheduler.ExponentialLR(o, 0.8)], milestones=[4])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch(torch, case):
    import warnings
    ours, theirs = CASES[case]
    opt, topt = make_opt(), torch_opt(torch)
    s = ours(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that no optimizer.step() came first
        ts = theirs(torch, topt)
        want = trace(ts)
    got = trace(s)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert [g["lr"] for g in opt.param_groups] == list(got[-1])


def test_plateau_matches_torch(torch, rng):
    metrics = list(np.concatenate([np.linspace(1, 0.5, 10), np.full(30, 0.5)]) +
                   rng.random(40) * 1e-3)
    for kw in [dict(), dict(mode="max", factor=0.5, patience=2, threshold=0.01,
                            threshold_mode="abs", cooldown=3, min_lr=[0.01, 0.001])]:
        kw_t = dict(kw, patience=kw.get("patience", 3))
        opt, topt = make_opt(), torch_opt(torch)
        s = S.ReduceLROnPlateau(opt, **kw_t)
        ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw_t)
        np.testing.assert_allclose(trace(s, metrics=metrics), trace(ts, metrics=metrics),
                                   rtol=1e-12, atol=0)


def test_closed_forms():
    opt = make_opt((0.1,))
    s = S.StepLR(opt, step_size=3, gamma=0.1)
    np.testing.assert_allclose(trace(s, 10)[:, 0], [0.1 * 0.1 ** (e // 3) for e in range(11)],
                               rtol=1e-12)
    opt = make_opt((0.1,))
    s = S.ExponentialLR(opt, gamma=0.7)
    np.testing.assert_allclose(trace(s, 10)[:, 0], [0.1 * 0.7 ** e for e in range(11)],
                               rtol=1e-12)
    opt = make_opt((0.1,))
    s = S.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(11)]
    np.testing.assert_allclose(trace(s, 10)[:, 0], want, rtol=1e-12)
    opt = make_opt((0.1,))
    s = S.LinearWarmup(opt, warmup_steps=4, start_factor=0.2)
    want = [0.1 * (0.2 + 0.8 * min(e, 4) / 4) for e in range(9)]
    np.testing.assert_allclose(trace(s, 8)[:, 0], want, rtol=1e-12)


def test_warmup_then_plateau():
    opt = make_opt((0.1,))
    s = S.LinearWarmup(opt, 3, 0.5, after=S.ReduceLROnPlateau(opt, patience=0, factor=0.5))
    assert s.requires_metric
    lrs = [s.get_last_lr()[0]]
    for m in [1.0, 1.0, 1.0, 0.9, 0.9, 0.9]:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0.05, 0.05 * (1 + 0.5 / 1.5), 0.05 * (1 + 0.5 / 1.5) *
                                     (1 + 0.5 / 2.0), 0.1, 0.1, 0.05, 0.025], rtol=1e-12)
    with pytest.raises(ValueError, match="metric"):
        s.step()


def test_scheduler_drives_optimizer_step():
    p = Parameter(np.zeros(4, np.float32))
    opt = optim.SGD([p], lr=1.0)
    s = S.StepLR(opt, step_size=1, gamma=0.5)
    for expect in (1.0, 0.5, 0.25):
        p.grad[...] = 1.0
        before = p.data.copy()
        opt.step()
        np.testing.assert_allclose(before - p.data, expect)
        s.step()


@pytest.mark.parametrize("case", list(CASES) + ["plateau"])
def test_state_dict_roundtrip(case):
    make = (lambda o: S.ReduceLROnPlateau(o, patience=1)) if case == "plateau" else CASES[case][0]
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] * 2
    call = (lambda s, i: s.step(metrics[i])) if case == "plateau" else (lambda s, i: s.step())
    opt = make_opt()
    s = make(opt)
    for i in range(7):
        call(s, i)
    sd = json.loads(json.dumps(s.state_dict(), allow_nan=False))  # strict JSON
    osd = opt.state_dict()
    rest = []
    for i in range(7, 20):
        call(s, i)
        rest.append(s.get_last_lr())
    opt2 = make_opt()
    s2 = make(opt2)
    opt2.load_state_dict(osd)
    s2.load_state_dict(sd)
    rest2 = []
    for i in range(7, 20):
        call(s2, i)
        rest2.append(s2.get_last_lr())
    assert rest == rest2


def test_state_dict_errors():
    opt = make_opt()
    s = S.StepLR(opt, 3)
    with pytest.raises(ValueError, match="type"):
        s.load_state_dict(S.ExponentialLR(make_opt(), 0.9).state_dict())
    sd = s.state_dict()
    sd["base_lrs"] = [0.1]
    with pytest.raises(ValueError, match="base_lrs"):
        s.load_state_dict(sd)
    sd = s.state_dict()
    del sd["gamma"]
    with pytest.raises(ValueError, match="gamma"):
        s.load_state_dict(sd)
    w = S.LinearWarmup(opt, 3)
    with pytest.raises(ValueError, match="after"):
        w.load_state_dict(S.LinearWarmup(make_opt(), 3, after=S.StepLR(opt, 2)).state_dict())


@pytest.mark.parametrize("make,match", [
    (lambda o: S.StepLR(o, 0), "step_size"),
    (lambda o: S.StepLR(o, 2.5), "step_size"),
    (lambda o: S.StepLR(o, 2, gamma=-1), "gamma"),
    (lambda o: S.ExponentialLR(o, 0.0), "gamma"),
    (lambda o: S.CosineAnnealingLR(o, 0), "T_max"),
    (lambda o: S.CosineAnnealingLR(o, 5, eta_min=-1), "eta_min"),
    (lambda o: S.LinearWarmup(o), "warmup"),
    (lambda o: S.LinearWarmup(o, 5, warmup_epochs=5), "warmup"),
    (lambda o: S.LinearWarmup(o, 0), "warmup_steps"),
    (lambda o: S.LinearWarmup(o, 5, start_factor=0.0), "start_factor"),
    (lambda o: S.LinearWarmup(o, 5, start_factor=1.5), "start_factor"),
    (lambda o: S.LinearWarmup(o, 5, after=S.StepLR(make_opt(), 2)), "same optimizer"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr"),
])
def test_bad_input(make, match):
    opt = make_opt()
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match=match):
        make(opt)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in before]
    with pytest.raises(TypeError, match="optimizer"):
        S.StepLR(object(), 3)


def test_scale_lr():
    assert S.scale_lr(0.1, 256, 1024) == pytest.approx(0.4)
    assert optim.scale_lr(1e-3, 128, 64) == pytest.approx(5e-4)
    for args, match in [((-0.1, 256, 512), "base_lr"), ((0.1, 0, 512), "base_batch_size"),
                        ((0.1, 256, 0), "batch_size"), ((0.1, 256, 1.5), "batch_size"),
                        ((0.1, True, 2), "base_batch_size"), ((float("inf"), 1, 2), "base_lr")]:
        with pytest.raises(ValueError, match=match):
            S.scale_lr(*args)
