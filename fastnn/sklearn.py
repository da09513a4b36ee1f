"""scikit-learn estimators: ``FastNNClassifier`` and ``FastNNRegressor`` (``pip install
fastnn[sklearn]``).

They follow the scikit-learn estimator contract, so ``clone``, ``Pipeline``, ``GridSearchCV``
(also with ``n_jobs``), ``cross_val_score`` and joblib work: ``__init__`` only stores its
arguments; ``fit`` validates, builds a fresh model and returns ``self``; fitted attributes end in
``_`` (``model_``, ``history_``, ``n_iter_``, ``loss_curve_``, ``n_features_in_``, and
``classes_`` for the classifier).

The network: ``hidden_layer_sizes`` Linear layers, each followed by an optional BatchNorm1d, the
``activation`` and an optional Dropout; then a Linear output layer (logits for the classifier,
trained with CrossEntropyLoss; values for the regressor, trained with MSELoss on targets
standardised with the training set's mean and std). ``model=`` replaces it with any
architecture: a callable ``(n_features, n_outputs) -> fastnn.nn.Module`` (built of registered
layers, so it can be saved and pickled). ``early_stopping`` holds out ``validation_fraction`` of
the training data and stops after ``n_iter_no_change`` epochs without a better validation loss,
restoring the best weights.

Threads: ``n_threads`` (None: fastnn's current setting) applies for the duration of fit and
predict. joblib's worker processes (GridSearchCV(n_jobs=k)) start with OMP_NUM_THREADS set to
max(cores // k, 1) by joblib -- one thread each when k >= cores -- which fastnn reads at import,
so k workers do not oversubscribe the cores.

Pickling goes through fastnn's own file format: the fitted model travels as the bytes of a
``fastnn.save`` file (safetensors + JSON; nothing of the network is pickled), and is rebuilt with
``fastnn.load`` on unpickling.

Estimator checks: see docs/training.md for which of scikit-learn's ``check_estimator`` checks
pass and why the others cannot for a neural network (also listed in ``_NN_XFAIL`` below and
declared to scikit-learn as expected failures).
"""
import numbers
import os
import tempfile

import numpy as np

__all__ = ["FastNNClassifier", "FastNNRegressor"]

# check_estimator's checks a small neural network trained for a fixed number of epochs cannot
# pass, with the reason (as skorch documents its own).
_NN_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data":
        "fit takes no sample_weight (mini-batch SGD has no exact weighted equivalent)",
    "check_sample_weight_equivalence_on_sparse_data": "fit takes no sample_weight",
    "check_classifiers_one_label_sample_weights": "fit takes no sample_weight",
    "check_fit_idempotent":
        "without random_state each fit starts from new random weights (with it: idempotent)",
}

_ACTIVATIONS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "elu": "ELU", "selu": "SELU",
                "gelu": "GELU", "tanh": "Tanh", "sigmoid": "Sigmoid", "logistic": "Sigmoid"}
_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop",
               "adagrad": "Adagrad"}

_CLASSES = {}


def __getattr__(name):
    if name in __all__:
        if not _CLASSES:
            _build()
        return _CLASSES[name]
    raise AttributeError(f"module 'fastnn.sklearn' has no attribute {name!r}")


def _model_bytes(model):
    import fastnn
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        fastnn.save(model, path)
        with open(path, "rb") as f:
            return f.read()


def _model_from_bytes(data):
    import fastnn
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        return fastnn.load(path)


class _Threads:
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import fastnn
        self.before = fastnn.get_num_threads()
        if self.n is not None:
            fastnn.set_num_threads(self.n)

    def __exit__(self, *exc):
        import fastnn
        fastnn.set_num_threads(self.before)


def _build():
    try:
        from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        raise ImportError("fastnn.sklearn needs scikit-learn: pip install fastnn[sklearn]") \
            from None
    try:
        from sklearn.utils.validation import validate_data as _validate
    except ImportError:  # scikit-learn < 1.6
        def _validate(est, X, y="no_validation", reset=True, **kw):
            return est._validate_data(X, y, reset=reset, **kw)

    import fastnn
    from fastnn import nn, optim

    class _Base(BaseEstimator):
        def __init__(self, hidden_layer_sizes=(100,), activation="relu", dropout=0.0,
                     batch_norm=False, optimizer="adam", lr=1e-3, weight_decay=0.0,
                     batch_size=64, epochs=50, early_stopping=False, validation_fraction=0.1,
                     n_iter_no_change=5, random_state=None, n_threads=None, model=None,
                     verbose=0):
            self.hidden_layer_sizes = hidden_layer_sizes
            self.activation = activation
            self.dropout = dropout
            self.batch_norm = batch_norm
            self.optimizer = optimizer
            self.lr = lr
            self.weight_decay = weight_decay
            self.batch_size = batch_size
            self.epochs = epochs
            self.early_stopping = early_stopping
            self.validation_fraction = validation_fraction
            self.n_iter_no_change = n_iter_no_change
            self.random_state = random_state
            self.n_threads = n_threads
            self.model = model
            self.verbose = verbose

        # -- checks (in fit, as the contract asks) -----------------------------------------
        def _check_params(self):
            hs = self.hidden_layer_sizes
            hs = (hs,) if isinstance(hs, numbers.Integral) else hs
            try:
                hs = tuple(int(h) for h in hs)
            except TypeError:
                raise TypeError(f"hidden_layer_sizes: expected an int or a sequence of ints, "
                                f"got {self.hidden_layer_sizes!r}") from None
            if any(h < 1 for h in hs):
                raise ValueError(f"hidden_layer_sizes: every size must be >= 1, got {hs}")
            if self.activation not in _ACTIVATIONS:
                raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, got "
                                 f"{self.activation!r}")
            if self.optimizer not in _OPTIMIZERS:
                raise ValueError(f"optimizer: expected one of {sorted(_OPTIMIZERS)}, got "
                                 f"{self.optimizer!r}")
            if not (isinstance(self.dropout, numbers.Real) and 0 <= self.dropout < 1):
                raise ValueError(f"dropout: expected a number in [0, 1), got {self.dropout!r}")
            if not (isinstance(self.lr, numbers.Real) and self.lr > 0):
                raise ValueError(f"lr: expected a positive number, got {self.lr!r}")
            if not (isinstance(self.weight_decay, numbers.Real) and self.weight_decay >= 0):
                raise ValueError(f"weight_decay: expected a number >= 0, got "
                                 f"{self.weight_decay!r}")
            for name in ("batch_size", "epochs", "n_iter_no_change"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                    raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
            if not (isinstance(self.validation_fraction, numbers.Real)
                    and 0 < self.validation_fraction < 1):
                raise ValueError(f"validation_fraction: expected a number in (0, 1), got "
                                 f"{self.validation_fraction!r}")
            if self.model is not None and not callable(self.model):
                raise TypeError("model: expected a callable (n_features, n_outputs) -> Module")
            if self.n_threads is not None and (isinstance(self.n_threads, bool) or not isinstance(
                    self.n_threads, numbers.Integral) or self.n_threads < 1):
                raise ValueError(f"n_threads: expected None or an int >= 1, got "
                                 f"{self.n_threads!r}")
            return hs

        def _seed(self):
            rs = self.random_state
            if rs is None:
                return None
            if isinstance(rs, numbers.Integral):
                return int(rs) % (2 ** 32)
            if isinstance(rs, np.random.RandomState):
                return int(rs.randint(0, 2 ** 31 - 1))
            raise ValueError(f"random_state: expected None, an int or a numpy RandomState, got "
                             f"{rs!r}")

        def _network(self, hs, n_in, n_out):
            if self.model is not None:
                net = self.model(n_in, n_out)
                if not isinstance(net, nn.Module):
                    raise TypeError(f"model: the callable must return a fastnn.nn.Module, got "
                                    f"{type(net).__name__}")
                return net
            layers, width = [], n_in
            for h in hs:
                layers.append(nn.Linear(width, h))
                if self.batch_norm:
                    layers.append(nn.BatchNorm1d(h))
                layers.append(getattr(nn, _ACTIVATIONS[self.activation])())
                if self.dropout > 0:
                    layers.append(nn.Dropout(float(self.dropout)))
                width = h
            layers.append(nn.Linear(width, n_out))
            return nn.Sequential(*layers)

        def _train(self, X, t, n_out, loss_fn):
            hs = self._check_params()
            seed = self._seed()
            with _Threads(self.n_threads):
                if seed is not None:
                    fastnn.manual_seed(seed)
                net = self._network(hs, X.shape[1], n_out)
                cls = getattr(optim, _OPTIMIZERS[self.optimizer])
                opt = cls(net.parameters(), lr=float(self.lr),
                          weight_decay=float(self.weight_decay))
                callbacks, kw = [], {}
                if self.early_stopping:
                    n_val = int(round(len(X) * self.validation_fraction))
                    if 1 <= n_val < len(X):
                        perm = np.random.default_rng(seed).permutation(len(X))
                        X, t = X[perm], t[perm]
                        kw["validation_split"] = n_val / len(X)
                        callbacks.append(fastnn.train.EarlyStopping(
                            patience=int(self.n_iter_no_change), restore_best_weights=True))
                hist = fastnn.fit(net, loss_fn, opt, X, t, batch_size=int(self.batch_size),
                                  epochs=int(self.epochs), verbose=self.verbose, seed=seed,
                                  metrics=None, callbacks=callbacks, **kw)
            net.eval()
            self.model_ = net
            self.history_ = {k: list(v) for k, v in hist.history.items()}
            self.loss_curve_ = list(hist.history.get("loss", []))
            self.n_iter_ = len(hist.epoch)
            return self

        def _outputs(self, X):
            check_is_fitted(self, "model_")
            X = _validate(self, X, reset=False, dtype=np.float32)
            with _Threads(self.n_threads):
                return fastnn.predict(self.model_, X)

        # -- pickling through fastnn's format ------------------------------------------------
        def __getstate__(self):
            state = self.__dict__.copy()
            if "model_" in state:
                state["model_"] = _model_bytes(state["model_"])
            return state

        def __setstate__(self, state):
            state = dict(state)
            if isinstance(state.get("model_"), (bytes, bytearray)):
                state["model_"] = _model_from_bytes(bytes(state["model_"]))
            self.__dict__.update(state)

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.non_deterministic = self.random_state is None
            return tags

        def _more_tags(self):  # scikit-learn < 1.6
            return {"non_deterministic": self.random_state is None,
                    "_xfail_checks": dict(_NN_XFAIL)}

    class FastNNClassifier(ClassifierMixin, _Base):
        """A fastnn network as a scikit-learn classifier (see the module doc)."""

        def fit(self, X, y):
            X, y = _validate(self, X, y, dtype=np.float32)
            check_classification_targets(y)
            self.classes_, t = np.unique(y, return_inverse=True)
            return self._train(X, t.astype(np.int64), len(self.classes_),
                               nn.CrossEntropyLoss())

        def predict_proba(self, X):
            out = self._outputs(X).astype(np.float64)
            out -= out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            return out / out.sum(axis=1, keepdims=True)

        def predict(self, X):
            out = self._outputs(X)
            return self.classes_[np.argmax(out, axis=1)]

    class FastNNRegressor(RegressorMixin, _Base):
        """A fastnn network as a scikit-learn regressor (see the module doc); targets are
        standardised for training (``y_mean_``, ``y_scale_``) and predictions mapped back.
        Multi-output targets (n_samples, n_outputs) are supported."""

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.target_tags.multi_output = True
            return tags

        def _more_tags(self):  # scikit-learn < 1.6
            return {**super()._more_tags(), "multioutput": True}

        def fit(self, X, y):
            X, y = _validate(self, X, y, dtype=np.float32, y_numeric=True, multi_output=True)
            y = np.asarray(y, np.float64)
            self._y_1d = y.ndim == 1
            y2 = y.reshape(len(y), -1)
            self.y_mean_ = y2.mean(axis=0)
            scale = y2.std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
            t = ((y2 - self.y_mean_) / self.y_scale_).astype(np.float32)
            return self._train(X, t, y2.shape[1], nn.MSELoss())

        def predict(self, X):
            out = self._outputs(X).astype(np.float64) * self.y_scale_ + self.y_mean_
            return out[:, 0] if self._y_1d else out

    for cls in (FastNNClassifier, FastNNRegressor):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _CLASSES[cls.__name__] = cls
    globals().update(_CLASSES)
