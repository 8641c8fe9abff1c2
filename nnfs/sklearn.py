"""nnfs as scikit-learn estimators: :class:`NNFSClassifier` and :class:`NNFSRegressor`.

They wrap :class:`nnfs.core.model.MLP` and :func:`nnfs.train.fit`, so an nnfs network drops into
``Pipeline``, ``cross_val_score`` and ``GridSearchCV``, and passes scikit-learn's estimator
checks.  Parameter names follow ``MLPClassifier`` where the meaning is the same; where nnfs says
it differently the name is nnfs's:

- ``epochs`` (not ``max_iter``): exactly that many epochs run, unless ``early_stopping`` stops
  sooner; there is no ``tol`` criterion.
- ``learning_rate`` is the base step size (``MLPClassifier``'s ``learning_rate_init``); the
  schedule is ``schedule`` ("constant", "step", "inverse_time", "warmup_cosine"), evaluated
  every optimizer step, with ``warmup`` (steps), ``min_lr`` and ``power_t``.
- ``alpha`` is scikit-learn's L2 penalty: ``0.5 * alpha * Σ||W||² / n_b`` added to the mean loss
  of a step of ``n_b`` samples, i.e. nnfs's ``l2 = alpha / n_b`` with ``n_b = batch_size *
  accumulation`` (the training-set size for full batch).
- ``optimizer`` ("sgd", "adam", "adamw") with ``momentum``, ``nesterov`` (sgd) and ``beta1``,
  ``beta2``, ``eps`` (adam, adamw), ``weight_decay`` (all; decoupled for adamw).
- ``n_iter_no_change`` is the patience of ``early_stopping`` (validation loss, not score).

Fitted attributes: ``net_`` (the trained MLP), ``history_`` (the :class:`nnfs.train.History`),
``loss_curve_`` (training loss per epoch, the mean of its batch losses), ``n_iter_`` (epochs
run), ``n_features_in_`` (and ``feature_names_in_``), ``classes_`` (classifier).  A fit that
diverges raises ``ValueError`` (as ``MLPClassifier`` does for non-finite weights) with the
reason, so that ``GridSearchCV`` records the candidate as failed.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nnfs.core import optimizers, schedules
from nnfs.core.model import MLP
from nnfs.train import fit as _fit

_FLOATS = (np.float64, np.float32)


def _rng(random_state) -> np.random.Generator:
    """A Generator from sklearn's random_state conventions (None: fresh OS entropy)."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) \
            and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(f"random_state={random_state!r} is not valid; allowed: None, an int >= 0, "
                     "a numpy Generator or RandomState")


def _hidden(sizes) -> list[int]:
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    try:
        hidden = [int(h) for h in sizes]
    except (TypeError, ValueError):
        hidden = None
    if hidden is None or any(h < 1 or h != s for h, s in zip(hidden, sizes, strict=True)):
        raise ValueError(f"hidden_layer_sizes={sizes!r} is not valid; allowed: an int or a "
                         "sequence of ints >= 1 (empty for a linear model)")
    return hidden


class _NNFSEstimator(BaseEstimator):
    """Shared fit machinery; subclasses define the task, the targets and the predictions."""

    def _batch(self, n: int) -> int | None:
        b = self.batch_size
        if b is None:
            return None
        if isinstance(b, str) and b == "auto":
            return min(200, n)
        if isinstance(b, numbers.Integral) and not isinstance(b, bool) and b >= 1:
            return min(int(b), n)
        raise ValueError(f"batch_size={b!r} is not valid; allowed: 'auto', None (full batch) "
                         "or an int >= 1")

    def _optimizer(self):
        hyper = {"weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            hyper.update(momentum=self.momentum, nesterov=self.nesterov and self.momentum > 0)
        elif self.optimizer in ("adam", "adamw"):
            hyper.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        return optimizers.get(self.optimizer)(**hyper)

    def _schedule(self, steps_total: int):
        name, lr = self.schedule, self.learning_rate
        if name == "constant":
            return None
        if name == "inverse_time":
            return schedules.get(name)(base_lr=lr, power_t=self.power_t)
        if name == "warmup_cosine":
            return schedules.get(name)(base_lr=lr, warmup_steps=min(self.warmup, steps_total),
                                       total_steps=steps_total, min_lr=self.min_lr)
        return schedules.get(name)(base_lr=lr)

    def _fit_net(self, X, y, *, task: str, n_out: int):
        n = X.shape[0]
        n_train = n - int(round(self.validation_fraction * n)) if self.early_stopping else n
        batch = self._batch(n_train)
        accumulation = self.accumulation
        if batch is None:
            per_step = n_train
            steps_per_epoch = 1
        else:
            per_step = min(batch * accumulation, n_train)
            steps_per_epoch = math.ceil(math.ceil(n_train / batch) / accumulation)
        rng = _rng(self.random_state)
        init_rng, fit_rng = rng.spawn(2)
        net = MLP(X.shape[1], _hidden(self.hidden_layer_sizes), n_out,
                  activation=self.activation, task=task, loss=self.loss,
                  l2=self.alpha / per_step, rng=init_rng,
                  dtype=np.float32 if self.precision != "float64" else np.float64,
                  init=self.init)
        schedule = self._schedule(self.epochs * steps_per_epoch)
        history = _fit(net, (X, y), optimizer=self._optimizer(), epochs=self.epochs,
                       lr=self.learning_rate, schedule=schedule,
                       batch_size=batch, accumulation=accumulation, clip_norm=self.clip_norm,
                       precision=self.precision, early_stopping=self.early_stopping,
                       validation_fraction=self.validation_fraction,
                       patience=self.n_iter_no_change, rng=fit_rng, threads=self.threads,
                       train_metrics=False)
        if history.status == "diverged":
            raise ValueError(f"{type(self).__name__} {history.reason}; lower learning_rate, "
                             "scale the inputs or set clip_norm")
        self.net_ = history.net
        self.history_ = history
        self.loss_curve_ = list(history.metrics["train/loss"])
        self.n_iter_ = history.n_epochs
        return self

    def _forward_input(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_FLOATS)


_PARAMS_DOC = """
    Parameters: hidden_layer_sizes=(100,), activation="relu", loss, optimizer="adam",
    learning_rate=1e-3, batch_size="auto" (min(200, n); None: full batch), epochs=200,
    alpha=1e-4, momentum=0.9, nesterov=True, beta1=0.9, beta2=0.999, eps=1e-8,
    weight_decay=0.0, schedule="constant", warmup=0, min_lr=0.0, power_t=0.5, init="auto",
    precision="float64" ("float32", "mixed"), accumulation=1, clip_norm=None,
    early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, random_state=None,
    threads=1 (BLAS threads during fit; None leaves BLAS alone).  See the module docstring.
"""


class NNFSClassifier(ClassifierMixin, _NNFSEstimator):
    """An nnfs MLP classifier: sigmoid output for 2 classes, softmax for more."""

    __doc__ += _PARAMS_DOC

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", loss="cross_entropy",
                 optimizer="adam", learning_rate=1e-3, batch_size="auto", epochs=200,
                 alpha=1e-4, momentum=0.9, nesterov=True, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, schedule="constant", warmup=0, min_lr=0.0, power_t=0.5,
                 init="auto", precision="float64", accumulation=1, clip_norm=None,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 random_state=None, threads=1):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.alpha = alpha
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup = warmup
        self.min_lr = min_lr
        self.power_t = power_t
        self.init = init
        self.precision = precision
        self.accumulation = accumulation
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.threads = threads

    def fit(self, X, y):
        """Fit on X (n_samples, n_features) and labels y (n_samples,) of any type."""
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); {type(self).__name__} "
                             "needs at least 2 classes")
        return self._fit_net(X, y_index.astype(np.int64), task="binary" if k == 2 else
                             "multiclass", n_out=1 if k == 2 else k)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        X = self._forward_input(X)
        return self.net_.predict_proba(X)

    def predict(self, X):
        """Labels (n_samples,) from ``classes_``."""
        X = self._forward_input(X)
        return self.classes_[self.net_.predict(X)]


class NNFSRegressor(RegressorMixin, _NNFSEstimator):
    """An nnfs MLP regressor (identity output); y may have several columns (multi-output)."""

    __doc__ += _PARAMS_DOC

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", loss="mse",
                 optimizer="adam", learning_rate=1e-3, batch_size="auto", epochs=200,
                 alpha=1e-4, momentum=0.9, nesterov=True, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, schedule="constant", warmup=0, min_lr=0.0, power_t=0.5,
                 init="auto", precision="float64", accumulation=1, clip_norm=None,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 random_state=None, threads=1):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.alpha = alpha
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup = warmup
        self.min_lr = min_lr
        self.power_t = power_t
        self.init = init
        self.precision = precision
        self.accumulation = accumulation
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.threads = threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) trains k linear outputs
        return tags

    def fit(self, X, y):
        """Fit on X (n_samples, n_features) and targets y (n_samples,) or (n_samples, k)."""
        X, y = validate_data(self, X, y, dtype=_FLOATS, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # one target: predictions are (n,), as MLPRegressor's
        return self._fit_net(X, y, task="regression", n_out=1 if y.ndim == 1 else y.shape[1])

    def predict(self, X):
        """Predictions (n_samples,) for one target, (n_samples, k) for k targets; float64."""
        X = self._forward_input(X)
        return np.asarray(self.net_.predict(X), dtype=np.float64)
