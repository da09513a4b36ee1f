"""Weight sharing: 1-D k-means against a float64 numpy reference, assignment, the optimizer hook
(every optimizer, with pruning masks) and strip_clustering."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn, optim
from fastnn.compress import cluster_weights, strip_clustering
from fastnn.prune import magnitude_prune


def lloyd_ref(x, c, iters):
    """Float64 Lloyd iterations (nearest centroid, ties to the lower; empty keeps its centroid)."""
    x = np.sort(x.astype(np.float64))
    c = np.sort(np.asarray(c, np.float64))
    for _ in range(iters):
        a = np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)
        new = np.array([x[a == j].mean() if np.any(a == j) else c[j] for j in range(c.size)])
        new = np.sort(new)
        if np.array_equal(new, c):
            break
        c = new
    return c


@pytest.mark.parametrize("n,k", [(1, 1), (7, 3), (97, 5), (1000, 16), (4099, 32)])
def test_kmeans_matches_float64_reference(rng, n, k):
    x = rng.standard_normal(n).astype(np.float32)
    init = np.linspace(x.min(), x.max(), k)
    c, it = _C.kmeans1d(x, init, 200)
    ref = lloyd_ref(x, init, 200)
    scale = np.abs(x).max()
    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-12 * scale * np.sqrt(n) + 1e-15)
    assert np.all(np.diff(c) >= 0)
    # at convergence each non-empty centroid is the mean of its members
    idx = _C.cluster_assign(x, c.astype(np.float32))
    for j in np.unique(idx):
        np.testing.assert_allclose(c[j], x[idx == j].astype(np.float64).mean(), rtol=1e-5,
                                   atol=1e-6 * scale)


def test_assignment_is_monotone_and_nearest(rng):
    x = rng.standard_normal(500).astype(np.float32)
    c = np.sort(rng.standard_normal(9)).astype(np.float32)
    idx = _C.cluster_assign(x, c)
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(idx[order]) >= 0)
    d = np.abs(x[:, None] - c[None, :])
    np.testing.assert_array_equal(d[np.arange(x.size), idx], d.min(axis=1))


def test_unsorted_or_nonfinite_centroids_rejected():
    with pytest.raises(ValueError, match="centroids"):
        _C.cluster_assign(np.zeros(3, np.float32), np.array([1, 0], np.float32))
    with pytest.raises(ValueError, match="values"):
        _C.kmeans1d(np.array([np.nan], np.float32), np.zeros(1))


def test_cluster_step_sums_member_updates():
    c = np.array([-1.0, 0.5], np.float32)
    idx = np.array([0, 1, 1, -1], np.int32)
    w = np.array([-0.9, 0.6, 0.3, 0.7], np.float32)  # updates: +0.1, +0.1, -0.2
    _C.cluster_step(w, idx, c)
    np.testing.assert_allclose(c, [-0.9, 0.4], atol=1e-6)
    np.testing.assert_allclose(w, [-0.9, 0.4, 0.4, 0.0], atol=1e-6)


def mlp(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 4))


def graph_mlp(seed=0):
    fastnn.manual_seed(seed)
    x = nn.Input((12,))
    h = nn.ReLU()(nn.Linear(12, 32)(x))
    return nn.Model(x, nn.Linear(32, 4)(h))


OPTIMIZERS = [lambda p: optim.SGD(p, lr=0.05),
              lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
              lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
              lambda p: optim.Adam(p, lr=1e-2),
              lambda p: optim.AdamW(p, lr=1e-2), lambda p: optim.RMSprop(p, lr=1e-3),
              lambda p: optim.Adagrad(p, lr=1e-2)]


@pytest.mark.parametrize("make", [mlp, graph_mlp])
@pytest.mark.parametrize("opt_i", range(len(OPTIMIZERS)))
@pytest.mark.parametrize("init", ["linear", "kmeans++", "density"])
def test_sharing_and_masks_kept_through_training(rng, make, opt_i, init):
    model = make()
    magnitude_prune(model, 0.5)
    rep = cluster_weights(model, 6, init=init)
    assert all(1 <= r["clusters"] <= 6 for r in rep.values())
    opt = OPTIMIZERS[opt_i](model.parameters())
    x = rng.standard_normal((16, 12)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    loss = nn.CrossEntropyLoss()
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    for _ in range(3):
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    for n, p in model.named_parameters():
        if p.cluster is None:
            continue
        idx, c = p.cluster
        assert np.unique(p.data[p.mask != 0]).size <= c.size
        assert np.all(p.data[p.mask == 0] == 0)
        np.testing.assert_array_equal(p.data, np.where(idx >= 0, c[np.maximum(idx, 0)], 0))
        assert not np.array_equal(p.data, before[n])  # the centroids did move
    strip_clustering(model)
    assert all(p.cluster is None for _, p in model.named_parameters())


def test_bad_arguments_leave_model_unchanged():
    model = mlp()
    w = model[0].weight.data.copy()
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_weights(model, 0)
    with pytest.raises(ValueError, match="init"):
        cluster_weights(model, 4, init="bogus")
    with pytest.raises(TypeError, match="model"):
        cluster_weights("x", 4)
    np.testing.assert_array_equal(model[0].weight.data, w)
    assert model[0].weight.cluster is None


@pytest.mark.parametrize("make", [mlp, graph_mlp])
def test_clustering_kept_through_save_load_and_further_training(tmp_path, rng, make):
    """fastnn.save writes each Parameter.cluster (index, centroids) next to the masks; after
    fastnn.load, fine-tuning keeps the sharing as before the save, step for step."""
    model = make()
    magnitude_prune(model, 0.5)
    cluster_weights(model, 5)
    fastnn.save(model, tmp_path / "m.safetensors")
    back = fastnn.load(tmp_path / "m.safetensors")
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        assert (p.cluster is None) == (q.cluster is None), n
        if p.cluster is not None:
            np.testing.assert_array_equal(p.cluster[0], q.cluster[0])
            np.testing.assert_array_equal(p.cluster[1], q.cluster[1])
            assert q.cluster[0].dtype == np.int32 and q.cluster[1].dtype == np.float32
    x = rng.standard_normal((16, 12)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    for m in (model, back):
        opt, loss = optim.Adam(m.parameters(), lr=1e-2), nn.CrossEntropyLoss()
        for _ in range(2):
            opt.zero_grad()
            loss(m(x), y)
            m.backward(loss.backward())
            opt.step()
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)


def test_bad_cluster_tensors_in_a_file_are_refused(tmp_path):
    from tests.test_io import rewrite
    model = mlp()
    cluster_weights(model, 4)
    path = tmp_path / "m.safetensors"
    cases = [
        (lambda t: t.update({"cluster/0.weight/index": t["cluster/0.weight/index"][:1]}),
         "index: expected int32 of shape"),
        (lambda t: t["cluster/0.weight/index"].__setitem__((0, 0), 7), "index values outside"),
        (lambda t: t.pop("cluster/0.weight/centroids"), "expected an index and centroids"),
        (lambda t: t.update({"cluster/0.weight/centroids": np.array([np.nan], np.float32)}),
         "centroids: expected"),
        (lambda t: t.update({"cluster/9.weight/index": np.zeros(1, np.int32),
                             "cluster/9.weight/centroids": np.zeros(1, np.float32)}),
         "'9.weight'"),
    ]
    for edit, msg in cases:
        fastnn.save(model, path)
        rewrite(path, lambda m: None, edit)
        with pytest.raises(ValueError, match=msg):
            fastnn.load(path)
