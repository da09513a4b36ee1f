"""Small models and data shared by the pruning tests."""
import numpy as np

import fastnn
from fastnn import nn


def mlp(sizes=(20, 16, 12, 5), seed=0, bn=False):
    fastnn.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if bn:
                layers.append(nn.BatchNorm1d(sizes[i + 1]))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def snapshot(model):
    """Every array the pruning functions might touch (copies), to check 'left unchanged'."""
    state = {k: v.copy() for k, v in model.state_dict().items()}
    masks = {k: None if p.mask is None else p.mask.copy() for k, p in model.named_parameters()}
    return state, masks, repr(model)


def assert_unchanged(model, snap):
    state, masks, text = snap
    now = model.state_dict()
    assert list(now) == list(state)
    for k in state:
        np.testing.assert_array_equal(now[k], state[k])
    for k, p in model.named_parameters():
        if masks[k] is None:
            assert p.mask is None
        else:
            np.testing.assert_array_equal(p.mask, masks[k])
    assert repr(model) == text

