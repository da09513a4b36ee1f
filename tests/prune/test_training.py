"""Pruned weights stay exactly zero while training: every fused optimizer (momentum, Nesterov,
Adagrad, RMSprop, Adam/AdamW/AMSGrad state), masks added after the optimizer was built, fit with
GradualPruning-free fine-tuning on digits."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.prune import magnitude_prune, remove_masks, sparsity_report
from tests.prune.helpers import mlp

OPTIMIZERS = {
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.05),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
    "adam_amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


def pruned_weights(model):
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("built_before_pruning", [False, True])
def test_masked_weights_stay_zero_every_optimizer(isa, rng, name, built_before_pruning):
    model = mlp()
    opt = OPTIMIZERS[name](list(model.parameters()))
    if built_before_pruning:  # momentum / second-moment state exists for soon-pruned weights
        for _ in range(3):
            for p in model.parameters():
                p.grad[:] = rng.standard_normal(p.shape)
            opt.step()
    magnitude_prune(model, 0.6)
    zero = [p.mask == 0 for p in pruned_weights(model)]
    for _ in range(5):
        for p in model.parameters():  # raw gradients, not masked by a backward
            p.grad[:] = rng.standard_normal(p.shape)
        opt.step()
        for p, z in zip(pruned_weights(model), zero):
            assert np.all(p.data[z] == 0.0)
            assert np.all(p.data[~z] != 0.0)
    # the state buffers keep going for kept weights (training still moves them)
    state = opt.state
    assert state["step"].max() >= 5


def test_fit_keeps_pruned_weights_zero_and_learns():
    (xtr, ytr), (xte, yte) = fastnn.datasets.load_digits()
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    model = mlp((64, 64, 32, 10), seed=3)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loss = nn.CrossEntropyLoss()
    fastnn.fit(model, loss, opt, xtr, ytr, epochs=3, batch_size=64, verbose=0, seed=0)
    magnitude_prune(model, 0.8)
    masks = [p.mask.copy() for p in pruned_weights(model)]
    fastnn.fit(model, loss, opt, xtr, ytr, epochs=3, batch_size=64, verbose=0, seed=1)
    for p, m in zip(pruned_weights(model), masks):
        np.testing.assert_array_equal(p.mask, m)
        assert np.all(p.data[m == 0] == 0.0)
    assert abs(sparsity_report(model)["total"]["weight_sparsity"] - 0.8) < 1e-3
    acc = fastnn.evaluate(model, loss, xte, yte)
    acc = acc["accuracy"] if isinstance(acc, dict) else acc
    assert acc > 0.85


def test_remove_masks_then_training_moves_pruned_weights(rng):
    model = mlp()
    magnitude_prune(model, 0.5)
    opt = optim.SGD(model.parameters(), lr=0.1)
    remove_masks(model)
    for p in model.parameters():
        p.grad[:] = 1.0
    opt.step()  # the optimizer notices the dropped masks
    assert all(np.all(p.data != 0) for p in pruned_weights(model))
