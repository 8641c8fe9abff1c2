"""The scikit-learn baselines of one nnfs job, fitted on its split and tracked beside it.

For each nnfs job (``nnfs.app.task``), after its run is logged:

- ``mlp``: ``baselines.matched_mlp`` built from the job's config, one sibling run per job;
- ``logreg``: depends on the data only, so a sweep fits it ONCE per distinct (dataset settings,
  features, seed). Jobs of a sweep may run in parallel processes (joblib, Ray, SLURM on a
  shared disk): an ``fcntl`` lock file in the sweep folder, keyed by the parent run and a hash of
  the data settings, makes the first job fit and log it and write its run id and metrics to a
  JSON file; later jobs read the file and append their nnfs run id to its ``paired_with`` tag.

Sibling runs carry the tags ``impl=sklearn``, ``baseline=mlp|logreg``, ``paired_with`` (the nnfs
run ids, comma-separated: the report picks every 32-hex id out of it), one
``substituted.<what>`` tag per setting scikit-learn cannot match, and metrics named like the
nnfs runs' (``final/test_acc``, ``time/fit_s``, ``time/ms_per_epoch``, ``train/loss`` per epoch,
``figures/decision_boundary.png`` for 2-D sets). The nnfs run gets
``delta_vs_sklearn_mlp/<m>`` and ``delta_vs_logreg/<m>`` = nnfs minus baseline, with ``m`` =
``test_acc`` (classifiers) or ``test_rmse`` (regression).

A baseline that fails (sklearn refuses a diverging fit, say) ends its own run FAILED with the
error; the nnfs run and the sweep go on. With tracking disabled the baselines are fitted and
their test metric written to the log, nothing else. Only ``nnfs.tracking`` talks to MLflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from nnfs import baselines, tracking
from nnfs import config as C

log = logging.getLogger("nnfs")
SHARED_DIR = ".nnfs_baselines"  # in the sweep folder: one lock + one JSON per logreg


def _name(v: Any) -> str:
    return v.name if hasattr(v, "name") and not isinstance(v, str) else str(v)


def optimizer_preset(cfg: DictConfig) -> str:
    """The ``baselines.OPTIMIZERS`` key of the job's optimizer, from its values (not the preset's
    name: ``optimizer=sgd optimizer.momentum=0.9`` is momentum SGD)."""
    o = cfg.optimizer
    if o.name == "sgd":
        if float(o.momentum) > 0:
            return "nesterov" if bool(o.nesterov) else "momentum"
        return "sgd"
    return str(o.name)


def mlp_settings(cfg: DictConfig, data) -> tuple[dict[str, Any], dict[str, str]]:
    """Keyword arguments of ``baselines.matched_mlp`` for this job, and the substitutions of
    fit-loop settings sklearn's MLP has no counterpart for (``substituted.<what>`` tags)."""
    o, tr = cfg.optimizer, cfg.train
    batch = None if tr.batch_size is None else int(tr.batch_size) * int(tr.accumulation)
    kw = dict(task=data.task, depth=int(cfg.model.depth), width=int(cfg.model.width),
              activation=_name(cfg.activation), loss=_name(cfg.loss),
              optimizer=optimizer_preset(cfg), lr=float(o.lr), momentum=float(o.momentum),
              nesterov=bool(o.nesterov), beta1=float(o.beta1), beta2=float(o.beta2),
              eps=float(o.eps), weight_decay=float(o.weight_decay), batch_size=batch,
              epochs=int(tr.epochs), l2=float(cfg.model.l2), n_train=len(data.y_train),
              seed=int(cfg.seed), solver=cfg.baseline.solver, schedule=str(cfg.schedule.name),
              n_targets=1 if data.y_train.ndim == 1 else int(data.y_train.shape[1]))
    subs = {}
    if int(tr.accumulation) > 1:
        subs["substituted.accumulation"] = f"{tr.batch_size}x{tr.accumulation}->batch {batch}"
    if bool(tr.early_stopping):
        subs["substituted.early_stopping"] = "true->false (all epochs, no validation split)"
    if tr.clip_norm is not None or tr.clip_value is not None:
        subs["substituted.clipping"] = "clipped->not clipped"
    if _name(tr.precision) != "float64":
        subs["substituted.precision"] = f"{_name(tr.precision)}->float64"
    if _name(cfg.model.init) != "auto":
        subs["substituted.init"] = f"{_name(cfg.model.init)}->glorot uniform"
    return kw, subs


def headline(task: str) -> str:
    """The metric the deltas compare: test_acc for classifiers, test_rmse for regression."""
    return "test_rmse" if task == "regression" else "test_acc"


def data_key(cfg: DictConfig) -> str:
    """What a LogisticRegression depends on: dataset settings, features, seed (a short hash)."""
    blob = json.dumps([C.to_dict(cfg.dataset), C.to_dict(cfg.features), int(cfg.seed)],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ tracking
class Tracker:
    """Where the baselines of one job are logged: the nnfs run's store, experiment and parent."""

    def __init__(self, cfg: DictConfig, info, result) -> None:
        self.cfg, self.info, self.result = cfg, info, result
        self.client = tracking.get_client(result.uri)

    def start(self, name: str, estimator, *, params: dict[str, Any],
              tags: dict[str, Any]) -> str:
        data = self.result.data
        sk_params = {f"sklearn.{k}": v for k, v in estimator.get_params().items()}
        all_tags = {"impl": "sklearn", "kind": "run", "dataset": data.name, "task": data.task,
                    "separable": data.meta.get("separable", "unknown"),
                    "estimator": type(estimator).__name__, **tags}
        if self.info.sweep_dir:
            all_tags["sweep_dir"] = self.info.sweep_dir
        return tracking.start_child_run(
            self.client, self.result.experiment_id, run_name=name,
            parent_run_id=self.info.parent_run_id, params={**params, **sk_params}, tags=all_tags)

    def finish(self, run_id: str, res: baselines.BaselineResult) -> None:
        from nnfs import plots

        data, cfg = self.result.data, self.cfg
        curve = res.curves.get("train/loss", [])
        tracking.log_history(self.client, run_id, _History(curve, res.final))
        if cfg.tracking.log_figures and data.is_2d:
            est = res.estimator
            proba = getattr(est, "predict_proba", est.predict)
            tracking.log_artifact_bytes(self.client, run_id, {
                "figures/decision_boundary.png": plots.decision_boundary_png(
                    proba, data, predict=est.predict)})
        tracking.end_run(self.client, run_id, "FINISHED",
                         {"outcome": "finished", "epochs_run": str(max(len(curve), 1))})

    def fail(self, run_id: str | None, exc: BaseException) -> None:
        if run_id is None:
            return
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        tags = tracking.error_tags(exc)
        if diverged(exc):  # the nnfs runs' word for it: the report counts it as diverged
            tags.update(outcome="diverged", diverged_reason=str(exc)[:500])
        try:
            tracking.end_run(self.client, run_id, status, tags)
        except Exception as exc2:  # the store failed: keep the first error
            log.error("could not end baseline run %s as %s: %s", run_id, status, exc2)


def diverged(exc: BaseException) -> bool:
    """sklearn's MLP refuses to go on with non-finite weights (a too large learning rate)."""
    return isinstance(exc, ValueError) and "non-finite" in str(exc)


class _History:
    """What ``tracking.log_history`` reads: per-epoch ``train/loss`` (steps 1..n) and finals."""

    def __init__(self, curve: list[float], final: dict[str, float]) -> None:
        self.epochs = list(range(1, len(curve) + 1))
        self.metrics = {"train/loss": list(curve)} if curve else {}
        self.final = dict(final)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive ``fcntl`` lock on ``path`` (created), released on exit: serialises the
    jobs of a sweep, in one process or many, on one machine or on a shared POSIX disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)  # readers never see half a file


# ------------------------------------------------------------------------------ the job
def run_for_job(cfg: DictConfig, info, result) -> dict[str, dict[str, float]]:
    """Fit and log the baselines of ``cfg.baseline.models`` for one finished nnfs job, then the
    deltas on the nnfs run. ``info``: its ``app.JobInfo``; ``result``: its ``app.RunResult``.
    Returns ``{"logreg": finals, "mlp": finals}`` of the baselines that succeeded."""
    models = list(cfg.baseline.models)
    if not models:
        return {}
    tracker = Tracker(cfg, info, result) if result.run_id is not None else None
    out: dict[str, dict[str, float]] = {}
    if "logreg" in models:
        final = _logreg(cfg, info, result, tracker)
        if final is not None:
            out["logreg"] = final
    if "mlp" in models:
        final = _mlp(cfg, info, result, tracker)
        if final is not None:
            out["mlp"] = final
    metric = headline(result.data.task)
    mine = result.history.final.get(f"final/{metric}")
    deltas = {f"delta_vs_{'sklearn_mlp' if b == 'mlp' else 'logreg'}/{metric}":
              mine - f[f"final/{metric}"] for b, f in out.items()
              if mine is not None and math.isfinite(mine) and f"final/{metric}" in f}
    if tracker is not None and deltas:
        last = int(result.history.epochs[-1]) if result.history.epochs else 0
        tracking.log_metrics(tracker.client, result.run_id, deltas, step=last)
    shown = ", ".join(f"{b} {metric}={f.get(f'final/{metric}', float('nan')):.4f}"
                      for b, f in out.items())
    if shown:
        log.info("%s | baselines: %s", info.run_name, shown)
    return out


def _fit_and_log(kind: str, info, tracker: Tracker | None, prepare, data, threads: int):
    """(run id or None, finals or None) of one baseline: ``prepare()`` builds ``(estimator,
    substitutions, start)`` where ``start(estimator)`` opens its run (when tracked); the fit's
    result finishes the run. A failure ends the run FAILED (KILLED on Ctrl-C, re-raised) and is
    logged: a baseline never fails its nnfs job."""
    run_id = None
    try:
        estimator, subs, start = prepare()
        if tracker is not None:
            run_id = start(estimator)
        res = baselines.fit_baseline((estimator, subs), data, threads=threads)
        if tracker is not None:
            tracker.finish(run_id, res)
        return run_id, res.final
    except KeyboardInterrupt as exc:
        if tracker is not None:
            tracker.fail(run_id, exc)
        raise
    except Exception as exc:
        log.log(logging.WARNING if diverged(exc) else logging.ERROR,
                "%s: sklearn %s baseline FAILED (%s: %s)", info.run_name, kind,
                type(exc).__name__, exc)
        if tracker is not None:
            tracker.fail(run_id, exc)
        return run_id, None


def _mlp(cfg: DictConfig, info, result, tracker: Tracker | None) -> dict[str, float] | None:
    data = result.data

    def prepare():
        kw, extra = mlp_settings(cfg, data)
        estimator, subs = baselines.matched_mlp(**kw)
        subs = {**subs, **extra}
        # the nnfs pair's params (same axis names and values): the UI and the report group
        # the two runs together
        params = {**C.flatten(C.to_dict(cfg)), **info.choices, **info.axes}
        return estimator, subs, lambda est: tracker.start(
            f"sklearn mlp | {info.run_name}", est, params=params,
            tags={"baseline": "mlp", "paired_with": result.run_id, **subs})

    return _fit_and_log("mlp", info, tracker, prepare, data, int(cfg.train.threads))[1]


def _logreg_params(cfg: DictConfig, info) -> dict[str, Any]:
    """The data's params only (a LogisticRegression knows no network): dataset.*, features.*,
    seed, and the dataset/features choices as typed."""
    flat = C.flatten(C.to_dict(cfg))
    keep = {k: v for k, v in flat.items() if k.startswith(("dataset.", "features.")) or k == "seed"}
    keep.update({k: v for k, v in {**info.choices, **info.axes}.items()
                 if k in ("dataset", "features", "seed")})
    return keep


def _fit_logreg(cfg: DictConfig, info, result, tracker: Tracker | None):
    """(run id or None, finals or None): one LogisticRegression (Ridge) fitted and logged."""
    data = result.data

    def prepare():
        estimator = baselines.logreg(task=data.task, seed=int(cfg.seed))
        name = f"sklearn logreg | {data.name} seed={int(cfg.seed)}"
        if cfg.features.name != "raw":
            name += f" features={cfg.features.name}"
        return estimator, {}, lambda est: tracker.start(
            name, est, params=_logreg_params(cfg, info),
            tags={"baseline": "logreg", "paired_with": result.run_id, "data_key": data_key(cfg)})

    return _fit_and_log("logreg", info, tracker, prepare, data, int(cfg.train.threads))


def _logreg(cfg: DictConfig, info, result, tracker: Tracker | None) -> dict[str, float] | None:
    """The job's LogisticRegression: fitted here, or (in a tracked sweep) shared with every
    job of the sweep on the same data; this job's nnfs run id joins its ``paired_with``."""
    if tracker is None or not info.sweep_dir or not info.parent_run_id:
        return _fit_logreg(cfg, info, result, tracker)[1]
    stem = Path(info.sweep_dir, SHARED_DIR, f"{info.parent_run_id}-logreg-{data_key(cfg)}")
    record = stem.with_suffix(".json")
    with _locked(stem.with_suffix(".lock")):
        if record.exists():
            shared = json.loads(record.read_text())
            if shared.get("run_id") and result.run_id not in shared["paired_with"]:
                shared["paired_with"].append(result.run_id)
                tracking.log_tags(tracker.client, shared["run_id"],
                                  {"paired_with": ",".join(shared["paired_with"])})
                _write_json(record, shared)
            return shared.get("final")
        earlier = _earlier_logreg(cfg, info, result, tracker)
        if earlier is not None:  # a resumed sweep: its first attempt fitted it already
            _write_json(record, earlier)
            return earlier["final"]
        run_id, final = _fit_logreg(cfg, info, result, tracker)
        _write_json(record, {"run_id": run_id, "final": final, "paired_with": [result.run_id]})
        return final


def _earlier_logreg(cfg: DictConfig, info, result, tracker: Tracker) -> dict | None:
    """The FINISHED logreg of this data under the same parent, fitted by an earlier attempt
    of a resumed sweep (its record is in the old sweep folder): this job joins its
    ``paired_with``; the record to share it, or None."""
    runs = tracking.finished_children(
        tracker.client, result.experiment_id, info.parent_run_id,
        {"impl": "sklearn", "baseline": "logreg", "data_key": data_key(cfg)})
    if not runs:
        return None
    run = runs[0]
    paired = [p for p in run.data.tags.get("paired_with", "").split(",") if p]
    if result.run_id not in paired:
        paired.append(result.run_id)
        tracking.log_tags(tracker.client, run.info.run_id, {"paired_with": ",".join(paired)})
    final = {k: v for k, v in run.data.metrics.items() if k.startswith(("final/", "time/"))}
    return {"run_id": run.info.run_id, "final": final, "paired_with": paired}
