"""GridSearchCV / RandomizedSearchCV over FastNNClassifier on a dask.distributed LocalCluster
(2 worker processes x 1 thread; each fit limited to one OpenMP thread with n_threads=1)."""
import os

import distributed
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from fastnn.sklearn import FastNNClassifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def client():
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")  # workers import fastnn
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, env={"OMP_NUM_THREADS": "1"})
        c = distributed.Client(cluster)
        yield c
        c.close()
        cluster.close()
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


def _data():
    x, y = load_digits(return_X_y=True)
    return (x[:400] / 16.0).astype(np.float32), y[:400]


def test_grid_search_on_dask_cluster(client):
    x, y = _data()
    est = FastNNClassifier(hidden_layer_sizes=(32,), epochs=5, random_state=0, n_threads=1)
    grid = GridSearchCV(est, {"lr": [1e-3, 1e-2]}, cv=2, n_jobs=-1)
    with distributed.get_task_stream(client) as ts, joblib.parallel_backend("dask"):
        grid.fit(x, y)
    # the fits ran as tasks on the cluster's workers, not in this process
    assert len(ts.data) >= 4 and {t["worker"] for t in ts.data} <= set(
        client.scheduler_info()["workers"])
    assert grid.best_params_["lr"] in (1e-3, 1e-2)
    # the same search locally picks the same parameters with the same scores (same seeds)
    local = GridSearchCV(est, {"lr": [1e-3, 1e-2]}, cv=2, n_jobs=1).fit(x, y)
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-12)
    assert grid.best_score_ > 0.5


def test_randomized_search_on_dask_cluster(client):
    x, y = _data()
    est = FastNNClassifier(hidden_layer_sizes=(16,), epochs=3, random_state=0, n_threads=1)
    rs = RandomizedSearchCV(est, {"weight_decay": [0.0, 1e-4, 1e-3], "batch_size": [32, 64]},
                            n_iter=3, cv=2, random_state=0, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        rs.fit(x, y)
    assert len(rs.cv_results_["params"]) == 3 and np.isfinite(rs.best_score_)
