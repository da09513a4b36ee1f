"""fastnn.manual_seed covers every random stream: initialisation, dropout, shuffling (a DataLoader
without its own seed) and augmentation (transforms called without an rng)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.data import Compose, DataLoader, GaussianNoise, RandomCrop, RandomHorizontalFlip


def _draw_everything(seed):
    fastnn.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 5),
                          nn.Dropout(0.5))
    init = [p.data.copy() for p in model.parameters()]
    x = np.linspace(0, 1, 12 * 36, dtype=np.float32).reshape(12, 1, 6, 6)
    model.train()
    dropped = np.asarray(model(x)) == 0
    loader = DataLoader(x, np.arange(12), batch_size=5, shuffle=True)
    order = np.concatenate([yb for _, yb in loader])
    images = (np.arange(12 * 36) % 251).astype(np.uint8).reshape(12, 1, 6, 6)
    augmented = Compose([RandomCrop(6, padding=1), RandomHorizontalFlip(),
                         GaussianNoise(0.1)])(images.astype(np.float32) / 255)
    return {"init": init, "dropout": dropped, "shuffle": order, "augment": augmented}


def _same(a, b):
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a.shape == b.shape and np.array_equal(a, b)


def test_same_seed_same_streams():
    a, b = _draw_everything(3), _draw_everything(3)
    for k in a:
        assert _same(a[k], b[k]), k


def test_other_seed_other_streams():
    a, b = _draw_everything(3), _draw_everything(4)
    for k in a:
        assert not _same(a[k], b[k]), k


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.5, TypeError), (True, TypeError),
                                       ("0", TypeError)])
def test_bad_seed_names_the_argument(seed, exc):
    with pytest.raises(exc, match="seed"):
        fastnn.manual_seed(seed)
