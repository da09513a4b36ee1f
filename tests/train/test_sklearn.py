"""fastnn.sklearn: the estimator contract, clone, Pipeline, GridSearchCV(n_jobs=2), pickle."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import fastnn
from fastnn import nn
from fastnn.sklearn import FastNNClassifier, FastNNRegressor


def _digits(n=600):
    X, y = load_digits(return_X_y=True)
    return X[:n], y[:n]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("cls", ["FastNNClassifier", "FastNNRegressor"])
def test_check_estimator_passes(cls):
    est = getattr(fastnn.sklearn, cls)(hidden_layer_sizes=(16,), epochs=30, lr=1e-2,
                                       random_state=0)
    results = check_estimator(est, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 45


def test_classifier_pipeline_and_clone():
    X, y = _digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    est = FastNNClassifier(hidden_layer_sizes=(32,), epochs=20, lr=1e-2, random_state=0)
    pipe = make_pipeline(StandardScaler(), est).fit(Xtr, ytr)
    assert pipe.score(Xte, yte) > 0.88
    fitted = pipe[-1]
    assert fitted.n_features_in_ == 64 and list(fitted.classes_) == list(range(10))
    proba = pipe.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (pipe.predict(Xte) == fitted.classes_[proba.argmax(1)]).all()
    c = clone(est)
    assert not hasattr(c, "model_") and c.get_params() == est.get_params()
    # the same random_state trains the same bits
    again = make_pipeline(StandardScaler(), clone(est)).fit(Xtr, ytr)
    np.testing.assert_array_equal(again.predict_proba(Xte), proba)


def test_string_labels_and_set_params():
    X, y = _digits(300)
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                       "nine"])[y]
    est = FastNNClassifier(epochs=2).set_params(hidden_layer_sizes=8, random_state=1)
    est.fit(X / 16.0, labels)
    assert set(est.predict(X / 16.0)) <= set(labels)
    assert est.get_params()["hidden_layer_sizes"] == 8


def test_grid_search_two_jobs_and_cross_val():
    X, y = _digits(400)
    X = X / 16.0
    grid = GridSearchCV(FastNNClassifier(epochs=8, random_state=0),
                        {"hidden_layer_sizes": [(16,), (32,)], "lr": [1e-3, 1e-2]},
                        cv=2, n_jobs=2)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"hidden_layer_sizes", "lr"}
    assert grid.best_score_ > 0.7
    # joblib's workers: OMP_NUM_THREADS = cores // n_jobs (1 on a 2-core machine), read by fastnn
    import joblib
    threads = cross_val_score(FastNNClassifier(hidden_layer_sizes=(4,), epochs=1), X, y, cv=2,
                              n_jobs=2, scoring=lambda est, X, y: fastnn.get_num_threads())
    assert list(threads) == [max(joblib.cpu_count() // 2, 1)] * 2
    scores = cross_val_score(FastNNClassifier(hidden_layer_sizes=(16,), epochs=5, lr=1e-2,
                                              random_state=0), X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.5).all()


def test_pickle_round_trip_through_fastnn_format():
    X, y = _digits(300)
    est = FastNNClassifier(hidden_layer_sizes=(16,), batch_norm=True, dropout=0.1, epochs=3,
                           random_state=0).fit(X / 16.0, y)
    data = pickle.dumps(est)
    state = est.__getstate__()
    assert isinstance(state["model_"], bytes) and state["model_"][:8] != b"\x80"
    back = pickle.loads(data)
    np.testing.assert_array_equal(back.predict_proba(X / 16.0), est.predict_proba(X / 16.0))
    assert isinstance(back.model_, nn.Sequential) and not back.model_.training


def test_regressor_linear_target_r2():
    X, y = make_regression(n_samples=400, n_features=5, noise=1.0, random_state=0)
    est = FastNNRegressor(hidden_layer_sizes=(32,), epochs=60, lr=3e-3, random_state=0)
    pipe = make_pipeline(StandardScaler(), est).fit(X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.98
    assert pipe.predict(X[:3]).shape == (3,)
    Y = np.stack([y, -2 * y], axis=1)
    multi = FastNNRegressor(hidden_layer_sizes=(16,), epochs=5, random_state=0).fit(X, Y)
    assert multi.predict(X[:4]).shape == (4, 2)


def test_custom_model_early_stopping_and_threads():
    X, y = _digits(400)
    built = []

    def make(n_in, n_out):
        built.append((n_in, n_out))
        return nn.Sequential(nn.Linear(n_in, 24), nn.ELU(), nn.Linear(24, n_out))

    before = fastnn.get_num_threads()
    est = FastNNClassifier(model=make, epochs=100, early_stopping=True, n_iter_no_change=2,
                           lr=1e-2, n_threads=1, random_state=0).fit(X / 16.0, y)
    assert built == [(64, 10)]
    assert est.n_iter_ < 100 and "val_loss" in est.history_
    assert fastnn.get_num_threads() == before
    with pytest.raises(ValueError, match="activation"):
        FastNNClassifier(activation="nope").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        FastNNClassifier(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(TypeError, match="model"):
        FastNNClassifier(model=lambda a, b: "not a module").fit(X, y)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    with pytest.raises(ImportError, match=r"fastnn\[sklearn\]"):
        fastnn.sklearn._build()
    with pytest.raises(AttributeError):
        fastnn.sklearn.NoSuchEstimator
