"""Datasets for the lessons: synthetic 2-D, regression, scikit-learn's shipped sets, a CSV.

One entry point, ``load(name, ...) -> Dataset``. Every dataset is split (stratified for
classifiers), its features are optionally crossed (TensorFlow Playground's x1, x2, x1^2, x2^2,
x1*x2, sin(x1), sin(x2)) and then standardised with statistics of the training part only.
Regression targets are never standardised, so RMSE stays in the units of the data.

Randomness comes only from ``seed``: ``numpy.random.default_rng(seed)`` for our generators and
``random_state=seed`` for scikit-learn's, so the same arguments give bit-identical arrays.

``separable`` says whether the classes can be split by a hyperplane (argmax of linear functions
for multiclass) in the raw inputs: ``True``, ``False`` or ``None`` (unknown or meaningless, e.g.
regression). For synthetic sets it is a property of the generating distribution, i.e. of the
lesson (``linear`` is separable by construction, xor/moons/circles/spiral are not); for the real
sets it was checked by linear-programming feasibility on the full data (tests/test_data.py
re-checks it). A subsample of a separable set stays separable; a subsample of a non-separable
one may not, so it is reported as ``None``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CROSSES: tuple[str, ...] = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")

SYNTHETIC_2D = ("linear", "xor", "moons", "circles", "spiral", "blobs")
SYNTHETIC_REGRESSION = ("sine", "linreg")
REAL = ("breast_cancer", "iris", "wine", "digits", "diabetes")
DATASETS: tuple[str, ...] = SYNTHETIC_2D + SYNTHETIC_REGRESSION + REAL + ("csv",)

TASKS = ("binary", "multiclass", "regression")

# Defaults chosen so the lessons show, measured with scikit-learn over 10-20 seeds: logistic
# regression >= 0.95 on linear, <= 0.6 on xor, circles and 2-arm spiral, >= 0.97 on xor with
# the x1*x2 cross (xor noise 0.1 gave 0.956: hence 0.05); an MLP (relu, 64-64, Adam) >= 0.95 on
# moons, circles and xor (moons, the tightest: min 0.956, median 0.968 over 10 seeds).
DEFAULT_N_SAMPLES = {"linear": 1000, "xor": 1000, "moons": 1000, "circles": 1000,
                     "spiral": 1000, "blobs": 1000, "sine": 1000, "linreg": 1000}
DEFAULT_NOISE = {"linear": 0.5, "xor": 0.05, "moons": 0.2, "circles": 0.1, "spiral": 0.2,
                 "blobs": 1.0, "sine": 0.1, "linreg": 0.1}
DEFAULT_CLASSES = {"spiral": 3, "blobs": 3}
LINREG_FEATURES = 5
AUTO_MAX_CLASSES = 20  # task="auto": an integer target with at most this many values is a class

# Verified by LP feasibility on the full sets (see the module docstring).
REAL_SEPARABLE = {"breast_cancer": True, "iris": False, "wine": True, "digits": True,
                  "diabetes": None}


def _fail(param: str, value: Any, allowed: str, why: str = "") -> ValueError:
    """The house error: one line naming the parameter, the value and what is allowed."""
    problem = f": {why}" if why else " is not valid"
    message = f"{param}={value!r}{problem}; allowed: {allowed}"
    return ValueError(" ".join(message.split()))  # collapse any newline inside a value


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy, so no consumer can change a Dataset behind everyone's back."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Dataset:
    """A split, standardised dataset.

    X_train (n_train, d), X_test (n_test, d): float64 standardised features.
    y_train, y_test: int64 labels 0..k-1 (classifiers), float64 (n,) or (n, k) (regression).
    raw_train, raw_test: float64 inputs before crosses and standardisation, (n, d_raw).
    meta: flat dict of str/int/float (every argument of ``load`` as resolved, plus task,
    n_classes, separable), ready for logging.
    class_labels: the original label of each class index (e.g. the strings of a CSV).
    truth: generating parameters when known (linreg: "W" (d_raw, 1), "b" (1,), on raw inputs).
    """

    name: str
    task: str
    n_classes: int
    separable: bool | None
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    raw_train: np.ndarray
    raw_test: np.ndarray
    feature_names: list[str]
    meta: dict[str, str | int | float]
    class_labels: tuple = ()
    truth: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    crosses: tuple[str, ...] | None = field(default=None, repr=False)
    mean: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    scale: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_out(self) -> int:
        """Output units: 1 for binary and single-target regression, k for multiclass."""
        if self.task == "multiclass":
            return self.n_classes
        if self.task == "regression" and self.y_train.ndim == 2:
            return int(self.y_train.shape[1])
        return 1

    @property
    def is_2d(self) -> bool:
        return self.raw_train.shape[1] == 2

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw inputs (n, d_raw) -> standardised features (n, d), as X_train was made.

        For decision-boundary plots: a grid over the raw 2-D plane becomes model input.
        """
        raw = np.asarray(raw, dtype=np.float64)
        d_raw = self.raw_train.shape[1]
        if raw.ndim != 2 or raw.shape[1] != d_raw:
            raise _fail("raw", f"array of shape {raw.shape}", f"an array of shape (n, {d_raw})")
        F = raw if self.crosses is None else _cross(raw, self.crosses)
        return (F - self.mean) / self.scale

    def __repr__(self) -> str:  # the arrays would drown a notebook
        return (f"Dataset(name={self.name!r}, task={self.task!r}, n_classes={self.n_classes}, "
                f"separable={self.separable}, n_train={len(self.y_train)}, "
                f"n_test={len(self.y_test)}, feature_names={self.feature_names!r})")

    def describe(self) -> dict[str, str | int | float]:
        """meta plus the sizes: a flat dict for logging (MLflow params)."""
        return {**self.meta, "n_train": len(self.y_train), "n_test": len(self.y_test),
                "n_features": self.n_features, "n_out": self.n_out,
                "feature_names": ",".join(self.feature_names)}


# ---------------------------------------------------------------------------------------------
# feature crosses

_CROSS_FN: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 ** 2,
    "x2^2": lambda x1, x2: x2 ** 2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}


def _cross(raw: np.ndarray, crosses: Sequence[str]) -> np.ndarray:
    """(n, 2) raw inputs -> (n, len(crosses)) crossed features, in the order asked."""
    x1, x2 = raw[:, 0], raw[:, 1]
    return np.stack([_CROSS_FN[c](x1, x2) for c in crosses], axis=1).astype(np.float64)


def _check_features(features: Any) -> tuple[str, ...] | None:
    if features is None:
        return None
    # A string is read as a comma-separated list: handy on a command line.
    items = features.split(",") if isinstance(features, str) else list(features)
    crosses = tuple(str(c).strip() for c in items)
    allowed = "None or a non-empty list of distinct crosses from " + ", ".join(CROSSES)
    if not crosses:
        raise _fail("features", features, allowed, "no feature asked for")
    for c in crosses:
        if c not in CROSSES:
            raise _fail("features", features, allowed, f"unknown cross {c!r}")
    if len(set(crosses)) != len(crosses):
        raise _fail("features", features, allowed, "a cross is repeated")
    return crosses


# ---------------------------------------------------------------------------------------------
# generators: (n, noise, classes, rng, seed) -> raw X (n, d), y[, truth]; ours draw from rng,
# scikit-learn's take random_state=seed


def _counts(n: int, k: int) -> list[int]:
    """n split into k near-equal class sizes."""
    return [n // k + (i < n % k) for i in range(k)]


def _linear(n, noise, classes, rng, seed):
    # Two Gaussian blobs at +-(1, 1); the coordinate along the normal (1, 1)/sqrt(2) is
    # redrawn until it lies on its own class's side, so the set is separable for any noise.
    w = np.array([1.0, 1.0]) / math.sqrt(2.0)
    u = np.array([-1.0, 1.0]) / math.sqrt(2.0)
    counts = _counts(n, 2)
    y = np.repeat(np.arange(2), counts)
    sign = np.where(y == 1, 1.0, -1.0)
    along = math.sqrt(2.0) + noise * rng.standard_normal(n)
    bad = along <= 0
    while bad.any():  # at most a handful of rounds unless noise is huge
        along[bad] = math.sqrt(2.0) + noise * rng.standard_normal(int(bad.sum()))
        bad = along <= 0
    across = noise * rng.standard_normal(n)
    X = (sign * along)[:, None] * w + across[:, None] * u  # (n, 2)
    return X, y


def _xor(n, noise, classes, rng, seed):
    # Uniform in the four quadrants of [-1, 1]^2, kept 0.1 away from the axes so that the
    # label sign(x1 * x2) (drawn before the jitter) is clean at the default noise. Every
    # quadrant gets the same count: with random counts an off-centre line can score 0.75 and
    # logistic regression reached 0.72 test accuracy on some seeds (0.53 at most, 50 seeds, now).
    pad = 0.1
    quadrant = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    sgn = np.repeat(quadrant, _counts(n, 4), axis=0)  # (n, 2)
    X0 = rng.uniform(pad, 1.0, size=(n, 2)) * sgn
    y = (X0[:, 0] * X0[:, 1] > 0).astype(np.int64)
    return X0 + noise * rng.standard_normal((n, 2)), y


def _moons(n, noise, classes, rng, seed):
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=noise, random_state=seed)


def _circles(n, noise, classes, rng, seed):
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)


def _spiral(n, noise, classes, rng, seed):
    # cs231n's spiral (radius 0..1, angle jitter ~ N(0, noise^2)) with two changes so that any
    # k works and a linear model is at chance: arms start evenly around the circle and each
    # sweeps one full turn (cs231n's 4 radians let logistic regression reach ~0.75 on 2 arms).
    X, y = [], []
    for j, m in enumerate(_counts(n, classes)):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(0.0, 2.0 * math.pi, m) + 2.0 * math.pi * j / classes \
            + noise * rng.standard_normal(m)
        X.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        y.append(np.full(m, j))
    return np.concatenate(X), np.concatenate(y)


def _blobs(n, noise, classes, rng, seed):
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n, n_features=2, centers=classes, cluster_std=noise,
                      random_state=seed)


def _sine(n, noise, classes, rng, seed):
    x = rng.uniform(-math.pi, math.pi, size=(n, 1))
    return x, np.sin(x[:, 0]) + noise * rng.standard_normal(n)


def _linreg(n, noise, classes, rng, seed):
    W = rng.standard_normal((LINREG_FEATURES, 1))
    b = rng.standard_normal(1)
    X = rng.standard_normal((n, LINREG_FEATURES))
    y = (X @ W + b)[:, 0] + noise * rng.standard_normal(n)
    return X, y, {"W": W, "b": b}


_GENERATORS = {"linear": _linear, "xor": _xor, "moons": _moons, "circles": _circles,
               "spiral": _spiral, "blobs": _blobs, "sine": _sine, "linreg": _linreg}
_TASK = {"linear": "binary", "xor": "binary", "moons": "binary", "circles": "binary",
         "spiral": "multiclass", "blobs": "multiclass", "sine": "regression",
         "linreg": "regression", "breast_cancer": "binary", "iris": "multiclass",
         "wine": "multiclass", "digits": "multiclass", "diabetes": "regression"}
_SEPARABLE = {"linear": True, "xor": False, "moons": False, "circles": False, "spiral": False,
              "blobs": None, "sine": None, "linreg": None}


# ---------------------------------------------------------------------------------------------
# argument checks


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_)


def _check_common(name, n_samples, noise, seed, test_size):
    if not isinstance(name, str) or name not in DATASETS:
        raise _fail("name", name, ", ".join(DATASETS), "unknown dataset")
    if n_samples is not None and (not _is_int(n_samples) or n_samples < 2):
        raise _fail("n_samples", n_samples, "None or an integer >= 2")
    if noise is not None and (not _is_real(noise) or not math.isfinite(noise) or noise < 0):
        raise _fail("noise", noise, "None or a finite number >= 0")
    if not _is_int(seed) or not 0 <= seed < 2**32:  # scikit-learn's random_state bound
        raise _fail("seed", seed, "an integer in [0, 2**32 - 1]")
    if not _is_real(test_size) or not 0.0 < float(test_size) < 1.0:
        raise _fail("test_size", test_size, "a number strictly between 0 and 1")


def _check_classes(name: str, classes: Any, natural: int | None) -> int | None:
    """spiral and blobs take classes >= 2; the others accept None or their own count."""
    if name in DEFAULT_CLASSES:
        if classes is None:
            return DEFAULT_CLASSES[name]
        if not _is_int(classes) or classes < 2:
            raise _fail("classes", classes, "None or an integer >= 2")
        return int(classes)
    if classes is not None and classes != natural:
        allowed = f"None (only {', '.join(DEFAULT_CLASSES)} take classes)"
        if natural:
            allowed = f"None or {natural}; only {', '.join(DEFAULT_CLASSES)} take other values"
        raise _fail("classes", classes, allowed, f"{name!r} has a fixed number of classes")
    return natural


# ---------------------------------------------------------------------------------------------
# sources: each returns raw X (n, d) float64, y, task, class_labels, truth, feature names


def _synthetic(name, n_samples, noise, classes, seed):
    n = DEFAULT_N_SAMPLES[name] if n_samples is None else int(n_samples)
    noise = DEFAULT_NOISE[name] if noise is None else float(noise)
    rng = np.random.default_rng(seed)
    X, y, *rest = _GENERATORS[name](n, noise, classes, rng, seed)
    truth: dict[str, np.ndarray] = rest[0] if rest else {}
    task = _TASK[name]
    if task == "multiclass" and classes == 2:
        task = "binary"  # spiral or blobs with 2 arms: one logit, like every binary set
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        labels: tuple = ()
    else:
        y = np.asarray(y, dtype=np.int64)
        labels = tuple(range(int(y.max()) + 1))
    names = [f"x{i + 1}" for i in range(X.shape[1])]
    return np.asarray(X, dtype=np.float64), y, task, labels, truth, names, n, noise


def _real(name):
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    task = _TASK[name]
    if task == "regression":
        return X, np.asarray(bunch.target, dtype=np.float64), task, (), list(bunch.feature_names)
    labels = tuple(str(t) for t in bunch.target_names)
    names = [str(f) for f in bunch.feature_names]
    return X, np.asarray(bunch.target, dtype=np.int64), task, labels, names


def _csv(path, target, task):
    import pandas as pd

    task = "auto" if task is None else task
    if task not in (*TASKS, "auto"):
        raise _fail("task", task, "binary, multiclass, regression, auto or None (= auto)")
    if path is None:
        raise _fail("path", path, "the path of an existing CSV file", "dataset 'csv' needs a path")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _fail("path", path, "the path of an existing CSV file", "no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise _fail("path", path, "a readable CSV file with a header row",
                    f"unreadable ({type(e).__name__})") from None
    columns = [str(c) for c in df.columns]
    df.columns = columns
    if target is None or str(target) not in columns:
        raise _fail("target", target, "one of the columns " + ", ".join(columns),
                    f"not a column of {path}")
    target = str(target)
    if len(df) < 2:
        raise _fail("path", path, "a CSV with at least 2 rows", f"has {len(df)} row(s)")
    nan = df.isna().sum()
    if nan.any():
        where = ", ".join(f"{c} ({int(k)} rows)" for c, k in nan.items() if k)
        raise _fail("path", path, "a CSV without missing values", f"has NaN in {where}")
    feature_cols = [c for c in columns if c != target]
    if not feature_cols:
        raise _fail("path", path, "a CSV with at least one feature column besides the target",
                    "has only the target column")
    bad = [c for c in feature_cols if not pd.api.types.is_numeric_dtype(df[c])]  # bool is 0/1
    if bad:
        raise _fail("path", path, "numeric feature columns only (encode the others first)",
                    "non-numeric feature columns " + ", ".join(bad))
    X = df[feature_cols].to_numpy(dtype=np.float64)
    if not np.isfinite(X).all():
        inf = [c for c in feature_cols if not np.isfinite(df[c].to_numpy(np.float64)).all()]
        raise _fail("path", path, "finite feature values", "has inf in " + ", ".join(inf))
    col = df[target]
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)

    if task == "auto":
        values = col.to_numpy()
        integral = numeric and np.all(np.mod(values.astype(np.float64), 1.0) == 0)
        if numeric and not (integral and col.nunique() <= AUTO_MAX_CLASSES):
            task = "regression"
        else:
            task = "binary" if col.nunique() <= 2 else "multiclass"
    if task == "regression":
        if not numeric:
            raise _fail("task", task, "binary or multiclass for this target",
                        f"target column {target!r} is not numeric")
        y = col.to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise _fail("target", target, "a target with finite values", "has inf")
        return X, y, task, (), feature_cols
    # Classes: the sorted distinct labels, mapped to 0..k-1 (the mapping goes into meta).
    labels, y = np.unique(col.to_numpy(), return_inverse=True)
    k = len(labels)
    if k < 2:
        raise _fail("target", target, "a target with at least 2 classes",
                    f"has one class only ({labels[0]!r})")
    if task == "binary" and k != 2:
        raise _fail("task", task, "multiclass (or auto)", f"target {target!r} has {k} classes")
    if task == "multiclass" and k == 2:
        raise _fail("task", task, "binary (or auto)", f"target {target!r} has 2 classes")
    labels = tuple(v.item() if isinstance(v, np.generic) else v for v in labels)
    return X, y.astype(np.int64), task, labels, feature_cols


# ---------------------------------------------------------------------------------------------
# split, subsample, standardise


def _split(X, y, *, test_size, seed, stratify, param, value):
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(X, y, test_size=test_size, random_state=seed,
                                stratify=y if stratify else None, shuffle=True)
    except ValueError as e:
        # sklearn's own words (e.g. a class with one member), kept on one line.
        raise _fail(param, value, "sizes leaving every class at least one sample in both parts",
                    str(e).split("\n")[0].rstrip(".")) from None


def _subsample(X, y, n, *, seed, stratify):
    if n > len(y):
        raise _fail("n_samples", n, f"None or at most {len(y)} (the size of the data)")
    if n == len(y):
        return X, y
    X_keep, _, y_keep, _ = _split(X, y, test_size=len(y) - n, seed=seed, stratify=stratify,
                                  param="n_samples", value=n)
    return X_keep, y_keep


def load(name: str, *, n_samples: int | None = None, noise: float | None = None, seed: int = 0,
         test_size: float = 0.25, features: Sequence[str] | str | None = None,
         classes: int | None = None, path: str | os.PathLike | None = None,
         target: str | None = None, task: str | None = None) -> Dataset:
    """Load dataset ``name`` (one of ``DATASETS``), split, cross and standardise it.

    n_samples: total samples before the split. None = the dataset's default (1000 for the
      synthetic sets; all rows for the real and csv sets, which are subsampled, stratified for
      classifiers, when n_samples is given).
    noise: None = the dataset's default (``DEFAULT_NOISE``). Its meaning per set: std of the
      blobs (linear, blobs), of the jitter added to the points (xor, moons, circles), of the
      angle (spiral, radians), of the target (sine, linreg). The real and csv sets have no
      noise to set: None or 0 is accepted, anything else is an error (it would be ignored and
      then mislabel a run).
    seed: the only source of randomness (generation, subsample and split).
    test_size: fraction of samples held out, strictly between 0 and 1.
    features: None (the raw inputs, all columns) or crosses from ``CROSSES`` for 2-D inputs,
      computed before standardisation; feature_names follow them.
    classes: number of classes for spiral (default 3) and blobs (default 3).
    path, target, task: for ``name="csv"`` only: the file, the target column and the task
      ("binary", "multiclass", "regression", or None / "auto": a numeric target with integer
      values and at most 20 distinct ones, or a non-numeric one, is a class label).
    """
    _check_common(name, n_samples, noise, seed, test_size)
    crosses = _check_features(features)
    if name != "csv":
        for param, value in (("path", path), ("target", target)):
            if value is not None:
                raise _fail(param, value, "None unless name='csv'", f"{name!r} takes no {param}")
    truth: dict[str, np.ndarray] = {}

    if name in DEFAULT_N_SAMPLES:
        natural = None if _TASK[name] == "regression" else 2
        k = _check_classes(name, classes, natural)
        X, y, task_, labels, truth, names, n, noise_ = _synthetic(name, n_samples, noise, k,
                                                                   seed)
        separable = _SEPARABLE[name]
    else:
        if noise not in (None, 0):
            raise _fail("noise", noise, "None or 0", f"{name!r} is real data with no noise to set")
        if name == "csv":
            X, y, task_, labels, names = _csv(path, target, task)
            separable = None
        else:
            X, y, task_, labels, names = _real(name)
            separable = REAL_SEPARABLE[name]
        _check_classes(name, classes, len(labels) if task_ != "regression" else None)
        if n_samples is not None:
            if n_samples < len(y) and separable is False:
                separable = None  # a subsample of a non-separable set may be separable
            X, y = _subsample(X, y, int(n_samples), seed=seed,
                              stratify=task_ != "regression")
        n, noise_ = len(y), 0.0
    if name != "csv" and task not in (None, "auto", task_):
        raise _fail("task", task, f"None, 'auto' or {task_!r}", f"{name!r} is {task_}")
    n_classes = 0 if task_ == "regression" else len(labels)
    if n_classes:
        count = np.bincount(y, minlength=n_classes)
        if count.min() < 2:  # a stratified split needs one sample per part
            c = int(count.argmin())
            param, value = ("target", target) if name == "csv" else ("n_samples", n_samples)
            raise _fail(param, value, "data with at least 2 samples in every class",
                        f"class {labels[c]!r} has {count[c]} sample(s)")

    if crosses is not None and X.shape[1] != 2:
        raise _fail("features", list(crosses), "None",
                    f"crosses need 2-D raw inputs and {name!r} has {X.shape[1]}")

    raw_train, raw_test, y_train, y_test = _split(
        X, y, test_size=float(test_size), seed=seed, stratify=task_ != "regression",
        param="test_size", value=test_size)
    if crosses is not None:
        F_train, F_test, names = _cross(raw_train, crosses), _cross(raw_test, crosses), \
            list(crosses)
    else:
        F_train, F_test = raw_train, raw_test
    mean = F_train.mean(axis=0)
    std = F_train.std(axis=0)
    scale = np.where(std > 0, std, 1.0)  # a constant column (digits' blank pixels) stays 0

    meta: dict[str, str | int | float] = {
        "name": name, "n_samples": int(n), "noise": float(noise_), "seed": int(seed),
        "test_size": float(test_size),
        "features": ",".join(crosses) if crosses is not None else "raw",
        "classes": int(n_classes), "path": "" if path is None else os.fspath(path),
        "target": "" if target is None else str(target), "task": task_,
        "n_classes": int(n_classes),
        "separable": {True: "true", False: "false", None: "unknown"}[separable],
    }
    if name == "csv" and labels:
        meta["class_labels"] = json.dumps(list(labels))

    return Dataset(
        name=name, task=task_, n_classes=n_classes, separable=separable,
        X_train=_frozen((F_train - mean) / scale), X_test=_frozen((F_test - mean) / scale),
        y_train=_frozen(y_train), y_test=_frozen(y_test),
        raw_train=_frozen(raw_train), raw_test=_frozen(raw_test),
        feature_names=list(names), meta=meta, class_labels=tuple(labels),
        truth={k: _frozen(v) for k, v in truth.items()}, crosses=crosses,
        mean=_frozen(mean), scale=_frozen(scale),
    )
