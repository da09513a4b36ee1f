"""Fused optimizers against their formulas (float64) and torch.optim, on every ISA path."""
import numpy as np
import pytest

import fastnn
from fastnn import optim
from fastnn.nn import Parameter
from tests.optim.ref_optim import RefOptimizer

# Shapes: scalars-ish, odd lengths (vector tails), a 2-D weight, a conv weight, and one large
# enough (> 2 x 16384 elements) that the step is split between threads, mid-parameter.
SHAPES = [(1,), (37,), (5, 13), (4, 3, 3, 3), (300, 129)]
STEPS = 5

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.3)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, eps=1e-6)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]
# Options torch does not have: formula tests only.
EXTRA = [
    ("SGD", dict(lr=0.05, momentum=0.9, l1=0.01, max_norm=1.5)),
    ("Adagrad", dict(lr=0.1, l1=0.02)),
    ("RMSprop", dict(lr=0.01, centered=True, max_norm=2.0)),
    ("Adam", dict(lr=0.01, l1=0.01, max_norm=1.0)),
    ("AdamW", dict(lr=0.01, max_norm=0.8, l1=0.001)),
]


def _ids(cfgs):
    return [f"{n}-" + "-".join(f"{k}={v}" for k, v in o.items()) for n, o in cfgs]


def make_params(rng, shapes=SHAPES):
    return [Parameter(rng.standard_normal(s).astype(np.float32) * 0.5) for s in shapes]


def make_grads(rng, params, steps=STEPS):
    return [[rng.standard_normal(p.shape).astype(np.float32) for p in params]
            for _ in range(steps)]


def run(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()


@pytest.mark.parametrize("name,opts", CONFIGS + EXTRA, ids=_ids(CONFIGS + EXTRA))
def test_matches_formula(isa, rng, name, opts):
    params = make_params(rng)
    ref = RefOptimizer(name, [p.data for p in params], **opts)
    grads = make_grads(rng, params)
    opt = getattr(optim, name)(params, **opts)
    for gs in grads:
        ref.step(gs)
    run(opt, params, grads)
    ref.check([p.data for p in params])
    assert list(opt.state["step"]) == [STEPS] * len(params)


@pytest.mark.parametrize("name,opts", CONFIGS, ids=_ids(CONFIGS))
def test_matches_torch(torch, isa, rng, name, opts):
    params = make_params(rng, SHAPES[:4])
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    grads = make_grads(rng, params)
    opt = getattr(optim, name)(params, **opts)
    topt = getattr(torch.optim, name)(tparams, **opts)
    ref = RefOptimizer(name, [p.data for p in params], **opts)  # for the tolerance only
    for gs in grads:
        for tp, g in zip(tparams, gs):
            tp.grad = torch.from_numpy(g.copy())
        topt.step()
        ref.step(gs)
    run(opt, params, grads)
    for i, (p, tp, tol) in enumerate(zip(params, tparams, ref.tol())):
        err = np.abs(p.data.astype(np.float64) - tp.detach().numpy())
        assert (err <= 2 * tol).all(), f"param {i}: worst error {err.max():.3g}"


@pytest.mark.parametrize("name,opts", CONFIGS[1:2] + CONFIGS[5:6] + CONFIGS[9:10] + CONFIGS[12:15],
                         ids=_ids(CONFIGS[1:2] + CONFIGS[5:6] + CONFIGS[9:10] + CONFIGS[12:15]))
def test_masks_keep_pruned_weights_zero(isa, rng, name, opts):
    params = make_params(rng, [(6, 11), (40,)])
    masks = [(rng.random(p.shape) > 0.4).astype(np.float32) for p in params]
    for p, m in zip(params, masks):
        p.data *= m
        p.mask = m
    ref = RefOptimizer(name, [p.data for p in params], masks=masks, **opts)
    opt = getattr(optim, name)(params, **opts)
    grads = make_grads(rng, params, steps=4)  # nonzero gradients on pruned weights too
    for gs in grads:
        ref.step(gs)
    run(opt, params, grads)
    for p, m in zip(params, masks):
        assert (p.data[m == 0] == 0).all()
    ref.check([p.data for p in params])
    # The optimizer state of pruned weights did move (it is the update that is masked).
    state = opt.state
    first = [k for k in state if k != "step"][0]
    assert np.abs(state[first]).sum() > 0


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_frozen_params_skipped(isa, rng, name):
    params = make_params(rng, [(4, 5), (9,), (3,)])
    params[1].requires_grad = False
    before = params[1].data.copy()
    opts = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    opt = getattr(optim, name)(params, lr=0.1, **opts)
    run(opt, params, make_grads(rng, params, steps=3))
    np.testing.assert_array_equal(params[1].data, before)
    assert list(opt.state["step"]) == [3, 0, 3]
    # Unfreezing later starts that parameter's own step count at 1 (torch keeps one per param).
    params[1].requires_grad = True
    run(opt, params, make_grads(rng, params, steps=1))
    assert list(opt.state["step"]) == [4, 1, 4]
    assert not np.array_equal(params[1].data, before)


@pytest.mark.parametrize("name,opts", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                       ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
                                       ("RMSprop", dict(centered=True, momentum=0.5)),
                                       ("Adam", dict(amsgrad=True, max_norm=1.0)),
                                       ("AdamW", dict(l1=0.01))])
def test_state_dict_resumes_bit_identically(rng, name, opts):
    import json
    params = make_params(rng, [(7, 9), (33,)])
    grads = make_grads(rng, params, steps=6)
    opt = getattr(optim, name)(params, **opts)
    run(opt, params, grads[:3])
    sd = opt.state_dict()
    json.dumps({k: v for k, v in sd.items() if k != "state"})  # JSON-able apart from arrays
    assert all(isinstance(v, np.ndarray) for v in sd["state"].values())
    saved = [p.data.copy() for p in params]
    run(opt, params, grads[3:])
    # A fresh optimizer on a copy of the model, resumed from the state dict.
    params2 = [Parameter(s.copy()) for s in saved]
    opt2 = getattr(optim, name)(params2, lr=0.5)  # hyper-parameters come from the state dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    run(opt2, params2, grads[3:])
    for p, q in zip(params, params2):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt2.state_dict()["step"] == 6


def test_load_state_dict_errors_leave_optimizer_unchanged(rng):
    params = make_params(rng, [(4, 3), (5,)])
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, make_grads(rng, params, steps=2))
    good = opt.state_dict()
    before = opt.state_dict()

    def bad(mutate, exc=ValueError, match=None):
        sd = opt.state_dict()
        mutate(sd)
        with pytest.raises(exc, match=match):
            opt.load_state_dict(sd)
        now = opt.state_dict()
        assert now["param_groups"] == before["param_groups"]
        for k in before["state"]:
            np.testing.assert_array_equal(now["state"][k], before["state"][k])

    bad(lambda sd: sd.update(type="SGD"), match="type")
    bad(lambda sd: sd.update(param_shapes=[[4, 3], [6]]), match="param_shapes")
    bad(lambda sd: sd["state"].update(exp_avg=np.zeros(3, np.float32)), match="exp_avg")
    bad(lambda sd: sd["state"].pop("exp_avg_sq"), match="exp_avg_sq")
    bad(lambda sd: sd["state"].update(bogus=np.zeros(17, np.float32)), match="bogus")
    bad(lambda sd: sd["param_groups"][0].update(lr=-1.0), match="lr")
    bad(lambda sd: sd["param_groups"][0].update(amsgrad=True), match="max_exp_avg_sq")
    bad(lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), match="groups")
    bad(lambda sd: sd["state"].update(step=np.array([1], np.int64)), match="step")
    bad(lambda sd: sd.pop("state"), match="state")
    opt.load_state_dict(good)  # and a good one still loads


def test_param_groups_and_lr_property(isa, rng):
    params = make_params(rng, [(6, 4), (4,), (8,)])
    ref_a = RefOptimizer("SGD", [params[0].data, params[1].data], lr=0.1, momentum=0.9)
    ref_b = RefOptimizer("SGD", [params[2].data], lr=0.01, momentum=0.9)
    opt = optim.SGD([{"params": params[:2]}, {"params": [params[2]], "lr": 0.01}], lr=0.1,
                    momentum=0.9)
    grads = make_grads(rng, params, steps=3)
    for gs in grads:
        ref_a.step(gs[:2])
        ref_b.step(gs[2:])
    run(opt, params, grads)
    ref_a.check([params[0].data, params[1].data])
    ref_b.check([params[2].data])
    assert opt.lr == 0.1
    opt.lr = 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


def test_lr_change_is_used_by_next_step(rng):
    params = make_params(rng, [(10,)])
    opt = optim.SGD(params, lr=0.1)
    start = params[0].data.copy()
    g = np.ones(10, np.float32)
    params[0].grad[...] = g
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    np.testing.assert_allclose(params[0].data, start - 0.25, rtol=1e-6)


def test_table_rebuilt_when_arrays_replaced(rng):
    params = make_params(rng, [(5, 5)])
    opt = optim.SGD(params, lr=1.0)
    params[0].data = np.zeros((5, 5), np.float32)      # a new array object
    params[0].grad = np.full((5, 5), 2.0, np.float32)
    opt.step()
    np.testing.assert_array_equal(params[0].data, -2.0)
    params[0].data = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="shape changed"):
        opt.step()


def test_zero_grad(rng):
    params = make_params(rng, [(300, 129), (7,)])
    opt = optim.Adam(params)
    for p in params:
        p.grad[...] = 1.0
    opt.zero_grad()
    assert all((p.grad == 0).all() for p in params)


@pytest.mark.parametrize("name,opts", [("Adam", dict(max_norm=3.0, l1=0.01)),
                                       ("SGD", dict(momentum=0.9, lr=0.1, max_norm=2.0))])
def test_same_bits_for_any_thread_count(rng, threads, name, opts):
    shapes = [(700, 97), (33,), (3, 40000)]  # big rows: the split falls inside parameters
    grads = None
    results = []
    for nt in (1, 2, 3):
        fastnn.set_num_threads(nt)
        r = np.random.default_rng(7)
        params = make_params(r, shapes)
        grads = grads or make_grads(r, params, steps=3)
        opt = getattr(optim, name)(params, **opts)
        run(opt, params, grads)
        results.append([p.data.copy() for p in params])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_closure_returns_loss(rng):
    params = make_params(rng, [(3,)])
    opt = optim.SGD(params, lr=0.1)
    assert opt.step(lambda: 1.5) == 1.5
