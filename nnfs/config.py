"""The schema of nnfs-train's config: structured configs (types, enums) and range checks.

Hydra checks types and enums while it composes (``activation=relux`` fails there); ``check``
adds the ranges and the registries (``optimizer.lr=-1``, ``dataset.name=foo``) before any data
is loaded or any MLflow run exists. Every failure is one line naming the key, the value and what
is allowed. This module knows OmegaConf and Hydra's ConfigStore, nothing of MLflow.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parent.parent  # the project (conf/, experiments/, mlflow.db)
CONF_DIR = ROOT / "conf"
EXPERIMENTS_DIR = ROOT / "experiments"


class Activation(Enum):
    identity = "identity"
    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"
    gelu = "gelu"
    gelu_tanh = "gelu_tanh"
    silu = "silu"
    swiglu = "swiglu"


class Loss(Enum):
    mse = "mse"
    cross_entropy = "cross_entropy"


class Init(Enum):
    auto = "auto"
    glorot = "glorot"
    he = "he"


class Precision(Enum):
    float64 = "float64"
    float32 = "float32"
    mixed = "mixed"


@dataclass
class ModelConf:
    depth: int = 1
    width: int = 16
    l2: float = 0.0
    init: Init = Init.auto


@dataclass
class DatasetConf:
    name: str = MISSING
    n_samples: int | None = None
    noise: float | None = None
    test_size: float = 0.25
    classes: int | None = None
    path: str | None = None
    target: str | None = None
    task: str | None = None


@dataclass
class FeaturesConf:
    name: str = "raw"
    crosses: list[str] | None = None


@dataclass
class OptimizerConf:
    name: str = "adam"  # key of nnfs.core.optimizers: sgd | adam | adamw
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class ScheduleConf:
    name: str = "constant"  # key of nnfs.core.schedules
    step_epochs: int = 30
    gamma: float = 0.5
    power_t: float = 0.5
    warmup_fraction: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainConf:
    epochs: int = 100
    batch_size: int | None = 32
    accumulation: int = 1
    clip_norm: float | None = None
    clip_value: float | None = None
    precision: Precision = Precision.float64
    early_stopping: bool = False
    validation_fraction: float = 0.1
    patience: int = 10
    eval_every: int = 1
    threads: int = 1


@dataclass
class TrackingConf:
    enabled: bool = True
    uri: str | None = None
    experiment: str = "nnfs"
    log_model: bool = True
    log_dataset: bool = True
    log_figures: bool = True


@dataclass
class BaselineConf:
    models: list[str] = field(default_factory=lambda: ["logreg", "mlp"])
    solver: str | None = None


@dataclass
class Config:
    seed: int = 0
    activation: Activation = Activation.relu
    loss: Loss = Loss.cross_entropy
    model: ModelConf = field(default_factory=ModelConf)
    dataset: DatasetConf = field(default_factory=DatasetConf)
    features: FeaturesConf = field(default_factory=FeaturesConf)
    optimizer: OptimizerConf = field(default_factory=OptimizerConf)
    schedule: ScheduleConf = field(default_factory=ScheduleConf)
    train: TrainConf = field(default_factory=TrainConf)
    tracking: TrackingConf = field(default_factory=TrackingConf)
    baseline: BaselineConf = field(default_factory=BaselineConf)
    # a rerun of an interrupted sweep reattaches to its parent run and skips the
    # configurations FINISHED there (resume=false: always a fresh sweep)
    resume: bool = True


BASELINES = ("logreg", "mlp")
SOLVERS = ("sgd", "adam", "lbfgs")
REGRESSION_DATASETS = ("sine", "linreg", "diabetes")


def _experiments_dir() -> str:
    return os.environ.get("NNFS_EXPERIMENTS", str(EXPERIMENTS_DIR))


def register() -> None:
    """Put the schema in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="nnfs_schema", node=Config)


# at import: a joblib worker composes its job's config after importing only the task's module
if not OmegaConf.has_resolver("nnfs_experiments_dir"):
    OmegaConf.register_new_resolver("nnfs_experiments_dir", _experiments_dir)


class ConfigError(ValueError):
    """A value outside its range: ``key=value: allowed``, on one line."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={_show(value)} is not valid; allowed: {allowed}")


class Incompatible(ConfigError):
    """Valid values that cannot run together (a sweep skips such a job, a single run fails)."""


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _number(key: str, value: Any, allowed: str, ok) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not ok(value):
        raise ConfigError(key, value, allowed)


def _optional(key: str, value: Any, allowed: str, ok) -> None:
    if value is not None:
        _number(key, value, allowed, ok)


def _choice(key: str, value: Any, valid) -> None:
    if value not in valid:
        raise ConfigError(key, value, "one of " + ", ".join(valid))


def dataset_task(ds: Any) -> str | None:
    """The task of a dataset config without loading it (None: csv with task auto)."""
    if ds.name == "csv":
        return None if ds.task in (None, "auto") else ds.task
    return "regression" if ds.name in REGRESSION_DATASETS else "classification"


def check(cfg: DictConfig | Any) -> None:
    """Raise ConfigError (one line: key, value, allowed) on the first value out of range.

    Types and enums were checked by Hydra; this checks ranges, registry keys and the
    combinations that cannot run (``Incompatible``: e.g. cross_entropy on regression data).
    """
    from nnfs.core import optimizers, schedules
    from nnfs.data import CROSSES, DATASETS

    m, ds, opt, sch, tr = cfg.model, cfg.dataset, cfg.optimizer, cfg.schedule, cfg.train
    _number("seed", cfg.seed, "an integer >= 0", lambda v: isinstance(v, int) and v >= 0)
    _number("model.depth", m.depth, "an integer >= 0 (0 = no hidden layer)", lambda v: v >= 0)
    _number("model.width", m.width, "an integer > 0", lambda v: v > 0)
    _number("model.l2", m.l2, "a number >= 0", lambda v: v >= 0)

    _choice("dataset.name", ds.name, DATASETS)
    _optional("dataset.n_samples", ds.n_samples, "null or an integer >= 2", lambda v: v >= 2)
    _optional("dataset.noise", ds.noise, "null or a number >= 0", lambda v: v >= 0)
    _number("dataset.test_size", ds.test_size, "a number in (0, 1)", lambda v: 0 < v < 1)
    _optional("dataset.classes", ds.classes, "null or an integer >= 2", lambda v: v >= 2)
    if ds.name == "csv":
        if not ds.path:
            raise ConfigError("dataset.path", ds.path, "the path of a CSV file (dataset=csv)")
        if not Path(ds.path).is_file():
            raise ConfigError("dataset.path", ds.path, "an existing CSV file")
        if not ds.target:
            raise ConfigError("dataset.target", ds.target, "the name of the target column")
        _choice("dataset.task", ds.task, (None, "auto", "binary", "multiclass", "regression"))
    if cfg.features.crosses is not None:
        for c in cfg.features.crosses:
            _choice("features.crosses", c, CROSSES)

    _choice("optimizer.name", opt.name, optimizers.NAMES)
    _number("optimizer.lr", opt.lr, "a number > 0", lambda v: v > 0)
    _number("optimizer.momentum", opt.momentum, "a number in [0, 1)", lambda v: 0 <= v < 1)
    if opt.nesterov and opt.momentum == 0:
        raise ConfigError("optimizer.nesterov", True, "false unless optimizer.momentum > 0")
    _number("optimizer.beta1", opt.beta1, "a number in [0, 1)", lambda v: 0 <= v < 1)
    _number("optimizer.beta2", opt.beta2, "a number in [0, 1)", lambda v: 0 <= v < 1)
    _number("optimizer.eps", opt.eps, "a number > 0", lambda v: v > 0)
    _number("optimizer.weight_decay", opt.weight_decay, "a number >= 0", lambda v: v >= 0)

    _choice("schedule.name", sch.name, schedules.NAMES)
    _number("schedule.step_epochs", sch.step_epochs, "an integer >= 1", lambda v: v >= 1)
    _number("schedule.gamma", sch.gamma, "a number in (0, 1]", lambda v: 0 < v <= 1)
    _number("schedule.power_t", sch.power_t, "a number >= 0", lambda v: v >= 0)
    _number("schedule.warmup_fraction", sch.warmup_fraction, "a number in [0, 1)",
            lambda v: 0 <= v < 1)
    _number("schedule.min_lr", sch.min_lr, f"a number in [0, optimizer.lr={opt.lr}]",
            lambda v: 0 <= v <= opt.lr)

    _number("train.epochs", tr.epochs, "an integer > 0", lambda v: v > 0)
    _optional("train.batch_size", tr.batch_size, "null (full batch) or an integer > 0",
              lambda v: v > 0)
    _number("train.accumulation", tr.accumulation, "an integer >= 1", lambda v: v >= 1)
    _optional("train.clip_norm", tr.clip_norm, "null or a number > 0", lambda v: v > 0)
    _optional("train.clip_value", tr.clip_value, "null or a number > 0", lambda v: v > 0)
    _number("train.validation_fraction", tr.validation_fraction, "a number in (0, 1)",
            lambda v: 0 < v < 1)
    _number("train.patience", tr.patience, "an integer >= 1", lambda v: v >= 1)
    _number("train.eval_every", tr.eval_every, "an integer >= 1", lambda v: v >= 1)
    _number("train.threads", tr.threads, "an integer >= 1", lambda v: v >= 1)

    if not str(cfg.tracking.experiment).strip():
        raise ConfigError("tracking.experiment", cfg.tracking.experiment, "a non-empty name")
    for b in cfg.baseline.models:
        _choice("baseline.models", b, BASELINES)
    _choice("baseline.solver", cfg.baseline.solver, (None, *SOLVERS))

    # combinations last: each value is fine on its own
    task = dataset_task(ds)
    if task == "regression" and cfg.loss == Loss.cross_entropy:
        raise Incompatible("loss", "cross_entropy",
                           f"mse on a regression dataset ({ds.name})")
    if cfg.features.crosses is not None and ds.name not in (
            "linear", "xor", "moons", "circles", "spiral", "blobs", "csv"):
        raise Incompatible("features", cfg.features.name,
                           f"raw on a dataset whose inputs are not 2-D ({ds.name})")


def to_dict(cfg: DictConfig) -> dict:
    """The resolved config as plain Python (enums as their names)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
