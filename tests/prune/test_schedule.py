"""GradualPruning: the planned values follow Zhu & Gupta's cubic formula; fit applies them at the
scheduled epochs; the model reaches the final sparsity."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.prune import GradualPruning, sparsity_report
from tests.prune.helpers import mlp


def formula(t, si, sf, t0, n_dt):
    return sf + (si - sf) * (1 - (t - t0) / n_dt) ** 3


@pytest.mark.parametrize("sf, si, t0, t1, freq", [(0.9, 0.0, 0, 4, 1), (0.8, 0.2, 2, 10, 2),
                                                  (0.75, 0.0, 1, 8, 3), (0.5, 0.5, 0, 3, 1),
                                                  (0.6, 0.0, 3, 3, 1)])
def test_schedule_matches_formula(sf, si, t0, t1, freq):
    cb = GradualPruning(sf, t0, t1, frequency=freq, initial_sparsity=si)
    plan = cb.schedule()
    epochs = [t for t, _ in plan]
    assert epochs == sorted(set(list(range(t0, t1, freq)) + [t1]))
    for t, s in plan:
        want = sf if t1 == t0 else formula(t, si, sf, t0, t1 - t0)
        assert s == pytest.approx(want, abs=1e-12)
    assert plan[-1] == (t1, pytest.approx(sf))
    assert plan[0][1] == pytest.approx(si if t1 > t0 else sf)
    values = [s for _, s in plan]
    assert values == sorted(values)  # never decreases
    assert cb.target(t0 - 1) is None if t0 > 0 else True
    assert cb.target(t1 + 5) == pytest.approx(sf)


def test_concrete_values():
    # s_f = 0.9 over 4 epochs: 0.9 * (1 - (1 - t/4)^3)
    plan = GradualPruning(0.9, 0, 4).schedule()
    np.testing.assert_allclose([s for _, s in plan],
                               [0.0, 0.9 * (1 - 0.75 ** 3), 0.9 * (1 - 0.5 ** 3),
                                0.9 * (1 - 0.25 ** 3), 0.9])


def test_fit_applies_schedule():
    (xtr, ytr), _ = fastnn.datasets.load_digits()
    xtr = xtr.reshape(len(xtr), -1)
    model = mlp((64, 32, 10), seed=1)
    cb = GradualPruning(0.8, start_epoch=1, end_epoch=3, frequency=1)
    seen = []

    class Probe(fastnn.train.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sparsity_report(self.model)["total"]["weight_sparsity"])

    opt = optim.Adam(model.parameters(), lr=1e-3)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, epochs=5, batch_size=128,
               callbacks=[cb, Probe()], verbose=0, seed=0)
    plan = dict(cb.schedule())
    assert [h[0] for h in cb.history] == [2, 3]  # epoch 1 is the start: initial_sparsity 0
    n = sum(m.weight.size for m in model.modules() if isinstance(m, nn.Linear))
    for (epoch, target, reached), s in zip(cb.history, seen[2:]):
        assert target == pytest.approx(plan[epoch])
        assert reached == pytest.approx(s)
    assert seen[0] == seen[1] == 0.0
    for epoch in (1, 2, 3):  # per layer round(s * size) zeros: the total is within a weight/layer
        assert abs(seen[epoch] - plan[epoch]) <= 2 / n + 1e-12
    assert seen[4] == seen[3]  # epoch 4 fine-tunes at the final masks


@pytest.mark.parametrize("kwargs, match", [
    (dict(final_sparsity=1.0, start_epoch=0, end_epoch=2), "final_sparsity"),
    (dict(final_sparsity=-0.1, start_epoch=0, end_epoch=2), "final_sparsity"),
    (dict(final_sparsity=0.5, start_epoch=0, end_epoch=2, initial_sparsity=0.6),
     "initial_sparsity"),
    (dict(final_sparsity=0.5, start_epoch=3, end_epoch=2), "end_epoch"),
    (dict(final_sparsity=0.5, start_epoch=-1, end_epoch=2), "start_epoch"),
    (dict(final_sparsity=0.5, start_epoch=0, end_epoch=2, frequency=0), "frequency"),
    (dict(final_sparsity=0.5, start_epoch=0, end_epoch=2, scope="model"), "scope"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradualPruning(**kwargs)


def test_bad_layers_fail_before_training():
    (xtr, ytr), _ = fastnn.datasets.load_digits()
    model = mlp((64, 32, 10))
    w0 = model[0].weight.data.copy()
    cb = GradualPruning(0.5, 0, 1, layers=["1"])  # a ReLU
    with pytest.raises(ValueError, match="layers"):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                   xtr.reshape(len(xtr), -1), ytr, epochs=1, callbacks=[cb], verbose=0)
    np.testing.assert_array_equal(model[0].weight.data, w0)
