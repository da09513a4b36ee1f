"""The compiled inference plan (fastnn/nn/_plan.py, csrc/frame/plan.cpp): eval forwards under
no_grad run as one C++ call and give the layer-by-layer Python path's outputs, on every ISA path,
at batch sizes that exercise the batched mode (batch < 2 x threads), the chunked mode (whole
chunks and a remainder) and one thread; the plan follows in-place weight edits and is rebuilt
when the model's structure or the input shape changes."""
import copy
import pickle

import numpy as np
import pytest

import fastnn
from fastnn import _C, nn
from fastnn.nn import _plan

EPS = float(np.finfo(np.float32).eps)


def _randomize(model, rng):
    """Random weights and non-trivial batch-norm statistics (the defaults 0/1 would let a
    misapplied batch norm pass)."""
    for m in model.modules():
        for p in m._parameters.values():
            if p is not None:
                p.data[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.3
        if isinstance(m, nn.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean[...] = rng.standard_normal(m.running_mean.shape) * 0.2
            m.running_var[...] = rng.random(m.running_var.shape) + 0.5
    return model.eval()


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12 * 7 * 7, 16), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(16, 10))


def mlp():
    return nn.Sequential(nn.Linear(20, 31), nn.BatchNorm1d(31), nn.GELU(), nn.Linear(31, 17),
                         nn.LeakyReLU(0.1), nn.Linear(17, 9), nn.Hardswish(), nn.Linear(9, 5),
                         nn.LogSoftmax(dim=1))


def convs():
    """Strided, dilated, grouped and depthwise convolutions, average pooling with ceil_mode and
    count_include_pad=False, a standalone batch norm, ReLU6 and Softmax over the channels."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.ELU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.Sigmoid(),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.BatchNorm2d(8), nn.Conv2d(8, 6, 1), nn.Softmax(dim=1))


def graph():
    """Branches, a concatenation, a residual add with ReLU, global pooling, two outputs."""
    x = nn.Input((4, 9, 9))
    b1 = nn.Conv2d(4, 6, 1)(x)
    b2 = nn.Conv2d(6, 6, 3, padding=1)(nn.ReLU()(nn.Conv2d(4, 6, 1)(x)))
    b3 = nn.Conv2d(4, 4, 1)(nn.MaxPool2d(3, stride=1, padding=1)(x))
    y = nn.ReLU()(nn.BatchNorm2d(16)(nn.Concat(dim=1)(b1, b2, b3)))
    y = nn.ReLU()(y + nn.Conv2d(16, 16, 3, padding=1)(y))
    feat = nn.GlobalAvgPool2d()(y)
    logits = nn.Linear(16, 7)(feat)
    return nn.Model(inputs=x, outputs=[logits, feat])


def residual():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1))),
        nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(8, 4))


MODELS = {"cnn": (cnn, (1, 28, 28), 9 * 8), "mlp": (mlp, (20,), 31),
          "convs": (convs, (3, 17, 15), 75), "graph": (graph, (4, 9, 9), 9 * 16),
          "residual": (residual, (3, 10, 10), 9 * 8)}


def _outputs(model, x, plan):
    prev = _plan.set_inference_plan(plan)
    try:
        with fastnn.no_grad():
            y = model(x)
    finally:
        _plan.set_inference_plan(prev)
    return y if isinstance(y, tuple) else (y,)


def _plan_of(model):
    return model.__dict__["_plan_cache"][4]


def _planned(model):
    cache = model.__dict__.get("_plan_cache")
    return cache is not None and cache[4] is not _plan._NO_PLAN


@pytest.fixture
def threads():
    before = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("batch,n_threads", [(1, 2), (3, 2), (64, 2), (13, 1), (1, 1)])
def test_plan_matches_layer_by_layer(isa, threads, name, batch, n_threads, rng):
    build, shape, k = MODELS[name]
    fastnn.set_num_threads(n_threads)
    fastnn.manual_seed(0)
    model = _randomize(build(), rng)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    want = _outputs(model, x, False)
    got = _outputs(model, x, True)
    assert _planned(model), "the plan should cover this model"
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == np.float32
        # Summation order differs (chunked convolutions may pick another algorithm): the bound
        # is float32 rounding over the contraction, per layer, at the outputs' scale.
        tol = 16 * EPS * np.sqrt(k) * (np.abs(w).max() + 1)
        np.testing.assert_allclose(g, w, rtol=0, atol=tol)


@pytest.mark.parametrize("algorithm", ["im2col", "direct", "winograd", "auto"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_chunks_with_every_conv_algorithm(isa, threads, algorithm, n_threads, rng):
    """Chunks of one and of a few samples (a remainder too) through every convolution algorithm,
    grouped and depthwise convolutions and pools: the kernels run single-threaded inside the
    plan's team, whose chunk loop their own worksharing loops must not disturb."""
    fastnn.set_num_threads(n_threads)
    model = _randomize(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, algorithm=algorithm), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5)), rng)
    x = rng.standard_normal((11, 3, 16, 16)).astype(np.float32)
    want = _outputs(model, x, False)[0]
    _outputs(model, x[:1], True)
    plan = _plan_of(model)
    for budget in (1, 40000, 0):  # one sample per chunk, a few, the default
        plan.set_chunk_bytes(budget)
        assert plan.chunk_for(11) < 11 or budget == 0
        got = _outputs(model, x, True)[0]
        assert _plan_of(model) is plan
        np.testing.assert_allclose(got, want, rtol=0,
                                   atol=16 * EPS * np.sqrt(72) * (np.abs(want).max() + 1))


def test_plan_modes(threads):
    """Which mode a batch gets: batched below two samples per thread, chunks otherwise."""
    fastnn.set_num_threads(2)
    model = _randomize(cnn(), np.random.default_rng(0))
    _outputs(model, np.zeros((4, 1, 28, 28), np.float32), True)
    plan = _plan_of(model)
    assert plan.chunk_for(3) == 3  # batched: < 2 x threads
    assert 1 <= plan.chunk_for(256) <= 128
    fastnn.set_num_threads(1)
    assert 1 <= plan.chunk_for(256) <= 256


def test_plan_follows_weight_edits(rng):
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((9, 1, 28, 28)).astype(np.float32)
    y0 = _outputs(model, x, True)[0]
    plan = _plan_of(model)
    model[0].weight.data *= 2.0            # in place: borrowed, seen without a rebuild
    model[1].running_var[...] *= 3.0       # a folded batch norm's statistics: read every call
    model[9].bias.data[...] += 1.0
    y1 = _outputs(model, x, True)[0]
    assert _plan_of(model) is plan
    np.testing.assert_allclose(y1, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-5)
    assert np.abs(y1 - y0).max() > 1e-3
    model[4].weight.data = model[4].weight.data * 0.5   # a new array: the plan is rebuilt
    y2 = _outputs(model, x, True)[0]
    assert _plan_of(model) is not plan
    np.testing.assert_allclose(y2, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-5)


def test_plan_rebuilt_on_structure_and_shape(rng):
    model = _randomize(residual(), rng)
    x = rng.standard_normal((5, 3, 10, 10)).astype(np.float32)
    _outputs(model, x, True)
    plan = _plan_of(model)
    model[3] = nn.Tanh().eval()                # a layer replaced
    y = _outputs(model, x, True)[0]
    assert _plan_of(model) is not plan
    np.testing.assert_allclose(y, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-6)
    x2 = rng.standard_normal((5, 3, 12, 12)).astype(np.float32)  # another input shape
    y2 = _outputs(model, x2, True)[0]
    np.testing.assert_allclose(y2, _outputs(model, x2, False)[0], rtol=1e-5, atol=1e-6)
    assert model.__dict__["_plan_cache"][1] == ((3, 12, 12),)


def test_plan_not_used_in_training_or_grad_mode(rng):
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    model(x)  # grad mode: the records a backward needs
    assert "_plan_cache" not in model.__dict__
    model.backward(np.ones((4, 10), np.float32))
    model.train()
    with fastnn.no_grad():
        model(x)
    assert "_plan_cache" not in model.__dict__
    model[1].eval()
    model[1].train()  # one layer in training mode: no plan even in an eval container
    model.eval()
    model[6].train()
    with fastnn.no_grad():
        model(x)
    assert "_plan_cache" not in model.__dict__


def test_uncovered_layer_falls_back(rng):
    model = nn.Sequential(nn.Linear(6, 5), nn.PReLU(), nn.Linear(5, 3)).eval()
    x = rng.standard_normal((4, 6)).astype(np.float32)
    got = _outputs(model, x, True)[0]
    assert _plan_of(model) is _plan._NO_PLAN
    np.testing.assert_array_equal(got, _outputs(model, x, False)[0])


def test_pruned_weights_stay_masked(rng):
    model = _randomize(cnn(), rng)
    w = model[0].weight
    w.mask = (rng.random(w.shape) > 0.5).astype(np.float32)
    x = rng.standard_normal((6, 1, 28, 28)).astype(np.float32)
    want = _outputs(model, x, False)[0]
    w.data[...] = 5.0  # a write into pruned positions: the forward re-masks, so does the plan
    w.data *= 1.0
    model[0].weight.data[...] = np.where(w.mask > 0, w.data, 7.0)
    got = _outputs(model, x, True)[0]
    np.testing.assert_allclose(got, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-5)
    assert np.all(model[0].weight.data[w.mask == 0] == 0)
    assert want.shape == got.shape


def test_model_with_plan_copies_and_pickles(rng):
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    y = _outputs(model, x, True)[0]
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert "_plan_cache" not in other.__dict__
        np.testing.assert_array_equal(_outputs(other, x, True)[0], y)


def test_predict_uses_the_plan(rng):
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((10, 1, 28, 28)).astype(np.float32)
    got = fastnn.predict(model, x, batch_size=4)
    assert _planned(model)
    np.testing.assert_allclose(got, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-5)


# -- the C++ plan's own checks --------------------------------------------------------------------
def test_plan_argument_errors():
    with pytest.raises(ValueError, match="slot 1: expected 1 to 2\\*\\*40"):
        _C.InferencePlan([4, 0], [0], [1])
    with pytest.raises(ValueError, match="output slot 0 listed twice or also an input"):
        _C.InferencePlan([4, 4], [0], [0])
    with pytest.raises(ValueError, match="input slot 5 out of range"):
        _C.InferencePlan([4, 4], [5], [1])
    p = _C.InferencePlan([4, 4, 6], [0], [2])
    with pytest.raises(ValueError, match="input slot 1 is read before any op writes it"):
        p.unary(1, 2, (_C.Unary.relu, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"output: expected 4 elements per sample, got 6"):
        p.unary(0, 2, (_C.Unary.relu, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"weight: expected shape \(4, 4\) .*, got \(3, 4\)"):
        p.linear(0, 1, np.zeros((3, 4), np.float32), None)
    with pytest.raises(ValueError, match=r"weight: expected shape \(6, 4\) .*, got \(6, 5\)"):
        p.linear(0, 2, np.zeros((6, 5), np.float32), None)
    with pytest.raises(ValueError, match="bias: expected 6 elements"):
        p.linear(0, 2, np.zeros((6, 4), np.float32), np.zeros(5, np.float32))
    with pytest.raises(TypeError, match="act"):
        p.linear(0, 2, np.zeros((6, 4), np.float32), None, act=(1, 2))
    with pytest.raises(ValueError, match="hardtanh"):
        p.unary(0, 1, (_C.Unary.hardtanh, 2.0, 1.0))  # min_val > max_val
    with pytest.raises(ValueError, match="output slot 2 has no producing op"):
        p.run([np.zeros((2, 4), np.float32)])
    p.linear(0, 2, np.ones((6, 4), np.float32), None)
    with pytest.raises(ValueError, match="output slot 2 is already written"):
        p.linear(0, 2, np.ones((6, 4), np.float32), None)
    with pytest.raises(ValueError, match="expected 4 elements per sample, got shape"):
        p.run([np.zeros((2, 5), np.float32)])
    with pytest.raises(ValueError, match="expected 1 arrays, got 2"):
        p.run([np.zeros((2, 4), np.float32)] * 2)
    with pytest.raises(ValueError, match="expected 4 elements per sample"):
        p.run(np.zeros((1, 3), np.float32))  # an ndarray as the sequence: its row, a temporary
    (y,) = p.run([np.full((3, 2, 2), 0.5, np.float32)])  # any per-sample shape of 4 elements
    np.testing.assert_array_equal(y, np.full((3, 6), 2.0, np.float32))


def test_plan_conv_geometry_errors():
    p = _C.InferencePlan([3 * 8 * 8, 4 * 8 * 8], [0], [1])
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"weight: 4 output channels x 6 x 6 = 144 elements per "
                                         r"sample, the output slot holds 256"):
        p.conv2d(0, 1, w, None, (3, 8, 8), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="weight"):
        p.conv2d(0, 1, np.zeros((4, 2, 3, 3), np.float32), None, (3, 8, 8), (1, 1), (1, 1),
                 (1, 1), 1)
    with pytest.raises(ValueError, match="eps must be finite"):
        p.conv2d(0, 1, w, None, (3, 8, 8), (1, 1), (1, 1), (1, 1), 1,
                 bn=(None, None, np.zeros(4, np.float32), np.ones(4, np.float32), float("nan")))
    with pytest.raises(ValueError, match="running mean and variance"):
        p.conv2d(0, 1, w, None, (3, 8, 8), (1, 1), (1, 1), (1, 1), 1,
                 bn=(None, None, None, np.ones(4, np.float32), 1e-5))
    with pytest.raises(ValueError, match="running_var: expected 4 elements"):
        p.conv2d(0, 1, w, None, (3, 8, 8), (1, 1), (1, 1), (1, 1), 1,
                 bn=(None, None, np.zeros(4, np.float32), np.ones(5, np.float32), 1e-5))
    p.conv2d(0, 1, w, np.ones(4, np.float32), (3, 8, 8), (1, 1), (1, 1), (1, 1), 1)
    (y,) = p.run([np.ones((2, 3, 8, 8), np.float32)])
    np.testing.assert_array_equal(y, np.ones((2, 256), np.float32))


def test_profile_names_the_fused_layers(rng):
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    rows = _plan.profile(model, x, rounds=2)
    labels = [label for label, _ in rows]
    assert labels[0] == "0 Conv2d + 1 BatchNorm2d + 2 ReLU"
    assert labels[1] == "3 MaxPool2d"
    assert labels[-2] == "9 Linear + 10 ReLU"  # Dropout is a view, not an op
    assert labels[-1] == "12 Linear"
    assert all(ms >= 0 for _, ms in rows) and sum(ms for _, ms in rows) > 0
    assert _plan.profile(nn.Sequential(nn.Linear(3, 2), nn.PReLU()).eval(),
                         np.zeros((2, 3), np.float32)) is None


@pytest.mark.parametrize("hw", [(2, 2), (3, 5), (7, 15), (9, 16), (6, 33), (5, 35), (4, 64)])
def test_values_only_maxpool_matches_the_layer(isa, hw, rng):
    """The plan's max pooling skips the argmax (2x2 stride-2 windows take a faster path on the
    SIMD ISAs): the same values as the layer, exactly -- odd sizes, widths around 1 and 2 vector
    widths, NaN and infinities, ties."""
    h, w = hw
    x = rng.standard_normal((3, 4, h, w)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 1, -1, -1] = np.inf
    x[2, 2, :2, :2] = -np.inf
    x[2, 3] = np.round(x[2, 3])  # ties
    for pool in (nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, 1)):
        model = nn.Sequential(pool, nn.ReLU()).eval()
        want = _outputs(model, x, False)[0]
        got = _outputs(model, x, True)[0]
        assert _planned(model)
        np.testing.assert_array_equal(got, want)


def test_plan_reused_across_unrelated_changes(rng):
    """A bump of the structure epoch elsewhere (another model built, a mode switched back) costs
    one comparison, not a rebuild; a predict() that leaves the mode as it was keeps the plan."""
    model = _randomize(cnn(), rng)
    x = rng.standard_normal((5, 1, 28, 28)).astype(np.float32)
    _outputs(model, x, True)
    plan = _plan_of(model)
    other = nn.Sequential(nn.Linear(3, 3))  # assignments elsewhere bump the epoch
    other.eval()
    fastnn.predict(model, x)
    np.testing.assert_allclose(_outputs(model, x, True)[0], _outputs(model, x, False)[0],
                               rtol=1e-5, atol=1e-5)
    assert _plan_of(model) is plan
    model[1].eps = 1e-3  # a hyper-parameter of a layer: the plan is rebuilt and follows it
    got = _outputs(model, x, True)[0]
    assert _plan_of(model) is not plan
    np.testing.assert_allclose(got, _outputs(model, x, False)[0], rtol=1e-5, atol=1e-5)


def test_values_only_maxpool_dilated_and_ceil_mode(isa, rng):
    """The other max-pool paths without argmax: dilation (the frame's loop) and ceil_mode."""
    x = rng.standard_normal((2, 3, 17, 15)).astype(np.float32)
    for pool in (nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), nn.MaxPool2d(2, ceil_mode=True),
                 nn.MaxPool2d((2, 3), (1, 2), (1, 0), dilation=(2, 1))):
        model = nn.Sequential(pool, nn.Tanh()).eval()
        np.testing.assert_array_equal(_outputs(model, x, True)[0], _outputs(model, x, False)[0])
        assert _planned(model)


def test_two_threads_share_one_model(rng):
    """run() releases the GIL: threads calling one model at once (a thread pool serving
    predictions) must not share a plan's workspaces mid-call -- batch sizes alternate so that the
    workspaces would be regrown under the other thread's feet."""
    import threading
    model = _randomize(cnn(), rng)
    xs = [rng.standard_normal((b, 1, 28, 28)).astype(np.float32) for b in (3, 40, 1, 17)]
    want = [_outputs(model, x, False)[0] for x in xs]
    errors = []

    def work(offset):
        try:
            for i in range(40):
                k = (i + offset) % len(xs)
                with fastnn.no_grad():
                    got = model(xs[k])
                np.testing.assert_allclose(got, want[k], rtol=1e-5, atol=1e-5)
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
