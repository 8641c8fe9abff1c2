"""The scikit-learn baselines, built from the same settings as an nnfs run.

Two references are fitted on the very same split and features as the nnfs run they sit beside:

- ``logreg``: LogisticRegression (lbfgs, multinomial for k > 2 classes) or, for regression,
  Ridge / LinearRegression. It depends only on the data, not on the network.
- ``mlp``: MLPClassifier / MLPRegressor matched to the nnfs network and optimizer.

How the nnfs settings map onto MLPClassifier / MLPRegressor (sklearn 1.6 - 1.9):

- ``hidden_layer_sizes = (width,) * depth``; depth 0 gives ``()``, which sklearn accepts: a linear
  (softmax / logistic / least-squares) model trained by the same solver.
- activation: identity, sigmoid -> logistic, tanh, relu. gelu, gelu_tanh, silu and swiglu have no
  counterpart: relu is fitted and the substitution recorded.
- solver: gd / sgd / minibatch -> "sgd" with momentum 0; momentum -> "sgd" with ``momentum``;
  nesterov -> "sgd" with Nesterov momentum; adam -> "adam"; adamw -> "adam" with its decoupled
  decay turned into L2 (recorded). sklearn's velocity ``v = mu*v - lr*g`` is ``-lr`` times
  torch's ``v = mu*v + g``, so with a constant lr the two momentum updates are identical.
  sklearn's Adam folds the bias correction into the step size, which makes its epsilon
  ``eps*sqrt(1 - beta2^t)`` in torch's terms: below 1e-8 this changes nothing measurable.
- epochs: ``max_iter = epochs``, ``tol = 0`` and ``n_iter_no_change = inf``, ``early_stopping =
  False``: the stochastic solvers then run exactly ``epochs`` epochs (``n_iter_ == epochs``).
  With ``solver="lbfgs"`` max_iter counts L-BFGS iterations and it may stop sooner on convergence.
- L2. nnfs minimises ``mean_batch(loss) + 0.5*l2*sum||W||^2``: gradient ``mean(g) + l2*W``.
  sklearn minimises ``mean_batch(loss) + 0.5*alpha*sum||W||^2 / n_b`` where ``n_b`` is the size of
  the batch of *that step*: gradient ``mean(g) + (alpha/n_b)*W``. Hence ``alpha = l2 * batch_size``
  (``l2 * n_train`` for full batch and lbfgs). It is exact for every full batch; when batch_size
  does not divide n_train, sklearn's last, smaller batch of each epoch is regularised by
  ``l2 * batch_size / n_last`` instead (recorded as a substitution when l2 > 0).
- regression. sklearn's squared loss is half the MSE, and its gradient divides by n only, not by
  n*k for k targets: its data gradient is ``k/2`` times nnfs's. Matching it exactly: ``alpha =
  l2 * n_b * k/2``, SGD ``learning_rate_init = lr * 2/k`` and Adam ``epsilon = eps * k/2`` (Adam is
  otherwise invariant to the gradient's scale). ``loss_curve_`` is then half nnfs's loss, so the
  curve reported is ``2 * loss_curve_`` (exact for one target or l2 = 0).
- MSE on a classifier (nnfs's "sigmoid then squared error") -> sklearn's log-loss (recorded).
- schedules: sklearn's MLP has no warmup, cosine or step schedule, and its "invscaling" counts
  samples, not steps: any schedule but constant becomes constant (recorded).
- What stays different and is not a setting: initialisation (sklearn: Glorot uniform
  ``U(-b, b)``, ``b = sqrt(6/(fan_in+fan_out))``, ``sqrt(2/...)`` for logistic, biases drawn the
  same way; nnfs "auto": He normal for relu-like hidden layers, Glorot otherwise, zero biases)
  and the order of the batches (another random stream).

Metrics are named like nnfs runs (``final/test_acc``, ``time/fit_s``, ...). Losses are reported in
nnfs's convention (mean log-loss or MSE over the split plus ``0.5*l2*sum||W||^2``), whatever the
estimator's own convention, so that the numbers compare.

This module imports neither mlflow nor hydra: it is for notebooks as much as for sweeps.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import log_loss, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

TASKS = ("regression", "binary", "multiclass")
# nnfs activation -> (sklearn activation, exact?)
ACTIVATIONS = {
    "identity": ("identity", True),
    "sigmoid": ("logistic", True),
    "tanh": ("tanh", True),
    "relu": ("relu", True),
    "gelu": ("relu", False),
    "gelu_tanh": ("relu", False),
    "silu": ("relu", False),
    "swiglu": ("relu", False),
}
# nnfs optimizer preset -> (sklearn solver, uses momentum, nesterov)
OPTIMIZERS = {
    "gd": ("sgd", False, False),
    "sgd": ("sgd", False, False),
    "minibatch": ("sgd", False, False),
    "momentum": ("sgd", True, False),
    "nesterov": ("sgd", True, True),
    "adam": ("adam", False, False),
    "adamw": ("adam", False, False),
}
LOSSES = ("mse", "cross_entropy")
SCHEDULES = ("constant", "step", "inverse_time", "warmup_cosine")
SOLVERS = ("sgd", "adam", "lbfgs")
BASELINES = ("logreg", "mlp")

# Settings for run_baselines when a notebook gives none: the network of the claims.
DEFAULT_MLP = {
    "depth": 2,
    "width": 64,
    "activation": "relu",
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 32,
    "epochs": 100,
    "l2": 0.0,
}


def _choice(name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; allowed: {', '.join(map(str, allowed))}")


def _bound(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is not valid; allowed: {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any, low: float = 0.0, high: float = math.inf) -> bool:
    """A finite real number in [low, high) (high = inf: unbounded)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
        and low <= value < high
    )


def matched_mlp(
    *,
    task: str,
    depth: int,
    width: int,
    activation: str,
    loss: str,
    optimizer: str,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    batch_size: int | None,
    epochs: int,
    l2: float,
    n_train: int,
    seed: int,
    solver: str | None = None,
    schedule: str = "constant",
    n_targets: int = 1,
) -> tuple[MLPClassifier | MLPRegressor, dict[str, str]]:
    """An unfitted MLPClassifier (MLPRegressor for regression) matched to an nnfs run.

    ``batch_size=None`` means full batch (n_train). ``weight_decay`` is the optimizer's coupled
    decay (sgd/adam: the same as l2 on the weights) or adamw's decoupled one (turned into L2).
    ``n_targets`` is k for multi-target regression. Returns ``(estimator, substitutions)`` where
    substitutions maps ``"substituted.<what>"`` to ``"<nnfs>-><sklearn>"`` for every setting that
    has no exact counterpart (empty when the match is exact).
    """
    _choice("task", task, TASKS)
    _choice("activation", activation, tuple(ACTIVATIONS))
    _choice("loss", loss, LOSSES)
    _choice("optimizer", optimizer, tuple(OPTIMIZERS))
    _choice("schedule", schedule, SCHEDULES)
    if solver is not None:
        _choice("solver", solver, SOLVERS)
    _bound("depth", depth, _is_int(depth) and depth >= 0, "an integer >= 0")
    _bound("width", width, _is_int(width) and width >= 1, "an integer >= 1")
    _bound("lr", lr, _is_real(lr) and lr > 0, "a finite float > 0")
    _bound("epochs", epochs, _is_int(epochs) and epochs >= 1, "an integer >= 1")
    _bound("n_train", n_train, _is_int(n_train) and n_train >= 1, "an integer >= 1")
    _bound("l2", l2, _is_real(l2), "a finite float >= 0")
    _bound("weight_decay", weight_decay, _is_real(weight_decay), "a finite float >= 0")
    _bound("momentum", momentum, _is_real(momentum, 0.0, 1.0), "a float in [0, 1)")
    _bound("beta1", beta1, _is_real(beta1, 0.0, 1.0), "a float in [0, 1)")
    _bound("beta2", beta2, _is_real(beta2, 0.0, 1.0), "a float in [0, 1)")
    _bound("eps", eps, _is_real(eps) and eps > 0, "a finite float > 0")
    _bound("seed", seed, _is_int(seed) and seed >= 0, "an integer >= 0")
    _bound("n_targets", n_targets, _is_int(n_targets) and n_targets >= 1, "an integer >= 1")
    _bound(
        "batch_size",
        batch_size,
        batch_size is None or (_is_int(batch_size) and batch_size >= 1),
        "None (full batch) or an integer >= 1",
    )

    subs: dict[str, str] = {}
    sk_activation, exact = ACTIVATIONS[activation]
    if not exact and depth > 0:
        subs["substituted.activation"] = f"{activation}->{sk_activation}"

    default_solver, uses_momentum, is_nesterov = OPTIMIZERS[optimizer]
    sk_solver = solver or default_solver
    if sk_solver != default_solver:
        subs["substituted.optimizer"] = f"{optimizer}->{sk_solver}"
    elif optimizer == "adamw":
        subs["substituted.optimizer"] = "adamw->adam (decoupled weight decay as L2)"
    nesterov = bool(is_nesterov or (uses_momentum and nesterov))
    mu = float(momentum) if uses_momentum else 0.0

    if schedule != "constant" and sk_solver != "lbfgs":
        subs["substituted.schedule"] = f"{schedule}->constant"

    classifier = task != "regression"
    if classifier and loss != "cross_entropy":
        subs["substituted.loss"] = f"{loss}->cross_entropy"
    if not classifier and loss != "mse":  # unreachable with LOSSES today; kept for new losses
        subs["substituted.loss"] = f"{loss}->mse"

    batch = n_train if batch_size is None or sk_solver == "lbfgs" else min(batch_size, n_train)
    l2_total = float(l2) + float(weight_decay)
    # regression: sklearn's data gradient is k/2 times nnfs's MSE gradient (see module doc)
    scale = n_targets / 2.0 if not classifier else 1.0
    alpha = l2_total * batch * scale
    n_last = n_train % batch
    if l2_total > 0 and n_last:
        subs["substituted.l2_last_batch"] = f"{l2_total:g}->{l2_total * batch / n_last:g}"
    if weight_decay > 0:
        # nnfs's optimizers decay every parameter, sklearn's alpha only the weights
        subs["substituted.weight_decay"] = "all parameters->weights only"

    common = dict(
        hidden_layer_sizes=(int(width),) * int(depth),
        activation=sk_activation,
        solver=sk_solver,
        alpha=alpha,
        batch_size=int(batch),
        learning_rate="constant",
        learning_rate_init=float(lr) / scale if sk_solver == "sgd" else float(lr),
        max_iter=int(epochs),
        shuffle=True,
        random_state=int(seed),
        tol=0.0,
        n_iter_no_change=np.inf,
        early_stopping=False,
        momentum=mu,
        nesterovs_momentum=nesterov,
        beta_1=float(beta1),
        beta_2=float(beta2),
        epsilon=float(eps) * scale,
    )
    if classifier:
        return MLPClassifier(**common), subs
    return MLPRegressor(loss="squared_error", **common), subs


def logreg(*, task: str, seed: int, C: float | None = 1.0, max_iter: int = 5000):
    """The linear reference: LogisticRegression (lbfgs; softmax for k > 2 classes), Ridge for
    regression. ``C`` is the inverse L2 strength of scikit-learn (penalty ``0.5*||w||^2 / C`` on
    the summed loss); ``C=None`` means no penalty (LinearRegression for regression).
    """
    _choice("task", task, TASKS)
    _bound("C", C, C is None or (_is_real(C) and C > 0), "None or a finite float > 0")
    _bound("max_iter", max_iter, _is_int(max_iter) and max_iter >= 1, "an integer >= 1")
    if task == "regression":
        # Ridge's ||y - Xw||^2 + a||w||^2 is 2/C times C*sum(0.5*(y - Xw)^2) + 0.5||w||^2
        return LinearRegression() if C is None else Ridge(alpha=1.0 / C, random_state=seed)
    # lbfgs with k > 2 classes fits the multinomial (softmax) model in sklearn >= 1.5
    return LogisticRegression(
        C=np.inf if C is None else float(C), solver="lbfgs", max_iter=max_iter, random_state=seed
    )


def nnfs_l2(estimator, n_train: int) -> float:
    """The nnfs ``l2`` (``0.5*l2*sum||W||^2`` on the mean loss) equivalent to an estimator's
    penalty, used to report losses in nnfs's convention."""
    if isinstance(estimator, MLPClassifier | MLPRegressor):
        batch = n_train if estimator.solver == "lbfgs" else min(estimator.batch_size, n_train)
        if isinstance(estimator, MLPRegressor):
            k = getattr(estimator, "n_outputs_", 1)
            return 2.0 * estimator.alpha / (batch * k)
        return estimator.alpha / batch
    if isinstance(estimator, LogisticRegression):
        return 0.0 if not np.isfinite(estimator.C) else 1.0 / (estimator.C * n_train)
    if isinstance(estimator, Ridge):
        return 2.0 * estimator.alpha / n_train
    return 0.0


def _weights(estimator) -> list[np.ndarray]:
    if isinstance(estimator, MLPClassifier | MLPRegressor):
        return list(estimator.coefs_)
    return [np.asarray(estimator.coef_)]


def _n_iter(estimator) -> int:
    n_iter = getattr(estimator, "n_iter_", None)
    # LogisticRegression: array (1,); closed-form Ridge/LinearRegression: None, one pass
    return 1 if n_iter is None else max(int(np.max(n_iter)), 1)


@dataclass
class BaselineResult:
    """A fitted baseline and its metrics, named like an nnfs run's."""

    name: str  # "logreg" | "mlp"
    estimator: Any
    final: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    substitutions: dict[str, str] = field(default_factory=dict)

    def proba_on_grid(self, dataset, grid_raw: np.ndarray) -> np.ndarray:
        """Probabilities (n, k) on raw input points (n, d_raw), e.g. a decision-boundary grid;
        predictions (n,) for regression."""
        return proba_on_grid(self.estimator, dataset, grid_raw)


def proba_on_grid(estimator, dataset, grid_raw: np.ndarray) -> np.ndarray:
    """``predict_proba`` (n, k) of a fitted estimator over ``dataset.transform(grid_raw)``
    (the same crosses and standardisation as training); ``predict`` for regressors."""
    X = dataset.transform(np.asarray(grid_raw, dtype=np.float64))
    if is_classifier(estimator):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def grid(dataset, *, steps: int = 200, margin: float = 0.5):
    """A regular grid over the raw 2-D inputs of a dataset: ``(xx, yy, grid_raw)`` with xx, yy
    of shape (steps, steps) and grid_raw (steps*steps, 2)."""
    _bound("dataset", getattr(dataset, "name", dataset), dataset.is_2d, "a 2-D dataset")
    raw = np.concatenate([dataset.raw_train, dataset.raw_test])
    lo, hi = raw.min(axis=0) - margin, raw.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _split_metrics(estimator, X, y, split: str, l2: float, penalty: float) -> dict[str, float]:
    if is_classifier(estimator):
        proba = estimator.predict_proba(X)
        acc = float(np.mean(estimator.classes_[np.argmax(proba, axis=1)] == y))
        data_loss = log_loss(y, proba, labels=estimator.classes_)
        return {f"final/{split}_acc": acc, f"final/{split}_loss": data_loss + penalty}
    pred = estimator.predict(X).reshape(np.shape(y))
    mse = float(np.mean((pred - y) ** 2))
    return {
        f"final/{split}_rmse": math.sqrt(mse),
        f"final/{split}_r2": float(r2_score(y, pred)),
        f"final/{split}_loss": mse + penalty,
    }


def fit_baseline(
    estimator, dataset, *, substitutions: Mapping[str, str] | None = None, threads: int | None = 1
) -> BaselineResult:
    """Fit a copy of ``estimator`` on ``dataset.X_train, y_train`` and score both splits.

    ``estimator`` may also be the ``(estimator, substitutions)`` pair of ``matched_mlp``. The
    input estimator is not modified (a clone is fitted). ``threads`` caps BLAS threads like
    nnfs's ``fit(threads=1)`` so that the timings compare; None leaves them alone.

    Metrics: ``final/{train,test}_acc`` and ``final/{train,test}_loss`` (classification) or
    ``final/{train,test}_rmse``, ``final/{train,test}_r2``, ``final/{train,test}_loss``
    (regression), ``time/fit_s`` and ``time/ms_per_epoch`` = fit time / ``n_iter_`` (epochs for
    the MLP, lbfgs iterations for LogisticRegression, 1 for closed-form Ridge).
    Losses follow nnfs: mean log-loss / MSE plus ``0.5*l2*sum||W||^2`` with the equivalent l2
    (:func:`nnfs_l2`). ``final/test_loss`` is measured at the end; ``final/train_loss`` too for
    logreg, while for the MLP it is the last ``train/loss`` (mean of the last epoch's batch
    losses), as nnfs's fit reports it.
    """
    if isinstance(estimator, tuple):
        estimator, pair_subs = estimator
        substitutions = {**pair_subs, **(substitutions or {})}
    est = clone(estimator)
    name = "mlp" if isinstance(est, MLPClassifier | MLPRegressor) else "logreg"
    y_train = dataset.y_train
    if isinstance(est, MLPRegressor) and np.ndim(y_train) == 2 and y_train.shape[1] == 1:
        y_train = y_train[:, 0]
    with warnings.catch_warnings(), threadpool_limits(limits=threads):
        # hitting max_iter is the point (epochs are matched), not a problem worth a warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(dataset.X_train, y_train)
        fit_s = time.perf_counter() - t0

    n_train = len(dataset.X_train)
    l2 = nnfs_l2(est, n_train)
    penalty = 0.5 * l2 * sum(float(np.sum(W * W)) for W in _weights(est))
    final: dict[str, float] = {}
    final.update(_split_metrics(est, dataset.X_train, dataset.y_train, "train", l2, penalty))
    final.update(_split_metrics(est, dataset.X_test, dataset.y_test, "test", l2, penalty))
    n_iter = _n_iter(est)
    final["time/fit_s"] = fit_s
    final["time/ms_per_epoch"] = 1000.0 * fit_s / n_iter

    curves: dict[str, list[float]] = {}
    if getattr(est, "loss_curve_", None) is not None:
        # sklearn's squared loss is half the MSE: doubled, it is nnfs's loss (one target)
        factor = 2.0 if isinstance(est, MLPRegressor) else 1.0
        curves["train/loss"] = [factor * float(v) for v in est.loss_curve_]
        # nnfs's final/train_loss is its last train/loss: the size-weighted mean of the last
        # epoch's batch losses, which is exactly what loss_curve_ holds (same per-batch l2)
        final["final/train_loss"] = curves["train/loss"][-1]
    return BaselineResult(name, est, final, curves, dict(substitutions or {}))


def run_baselines(
    dataset,
    *,
    seed: int = 0,
    which: tuple[str, ...] = BASELINES,
    C: float | None = 1.0,
    mlp: Mapping[str, Any] | None = None,
    threads: int | None = 1,
) -> dict[str, BaselineResult]:
    """Fit the baselines of ``which`` on a Dataset, for notebooks.

    ``mlp`` holds keyword arguments of ``matched_mlp`` (the nnfs run's settings); missing ones
    come from ``DEFAULT_MLP``; task, n_train and n_targets come from the dataset, and the loss
    defaults to the task's natural one. Returns ``{"logreg": BaselineResult, "mlp": ...}``.
    """
    for name in which:
        _choice("which", name, BASELINES)
    out: dict[str, BaselineResult] = {}
    if "logreg" in which:
        out["logreg"] = fit_baseline(
            logreg(task=dataset.task, seed=seed, C=C), dataset, threads=threads
        )
    if "mlp" in which:
        kw: dict[str, Any] = {
            **DEFAULT_MLP,
            "loss": "mse" if dataset.task == "regression" else "cross_entropy",
            "seed": seed,
            **dict(mlp or {}),
            "task": dataset.task,
            "n_train": len(dataset.X_train),
        }
        if dataset.task == "regression":
            kw.setdefault(
                "n_targets", 1 if np.ndim(dataset.y_train) == 1 else dataset.y_train.shape[1]
            )
        out["mlp"] = fit_baseline(matched_mlp(**kw), dataset, threads=threads)
    return out
