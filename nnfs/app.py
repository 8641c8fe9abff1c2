"""nnfs-train: the Hydra entry point. Config -> objects -> fit -> track, and nothing else.

    nnfs-train                                   # one run with conf/config.yaml
    nnfs-train -m activation=relu,gelu loss=mse,cross_entropy   # a sweep, one MLflow child per job
    nnfs-train -m ... hydra/launcher=joblib hydra.launcher.n_jobs=2   # the same, two at a time

Before Hydra starts, every job of the command is composed and checked (``preflight``): a bad
value stops everything with one line naming the key, the value and what is allowed, before any
data is loaded and before any MLflow run exists. In a sweep, ``SweepCallback`` creates the
store, the experiment and the parent run once in the launching process and hands the parent's
id to every job through ``hydra.job.env_set``; each job logs one child run.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from nnfs import config as C
from nnfs import tracking

log = logging.getLogger("nnfs")
GROUPS = ("dataset", "features", "optimizer", "schedule", "train", "tracking", "baseline",
          "experiment")
EXIT_BAD_CONFIG = 2

# what the launching process learnt before Hydra started (read by the sweep callback)
_PREFLIGHT: dict[str, Any] = {}
# config_hash of every job of the command (preflight): the sweep's identity (sweep_hash)
_JOB_HASHES: list[str] = []
RESUMED_ENV = "NNFS_RESUMED"  # "1" in the jobs of a sweep that reuses an interrupted parent
# the sweep's parent run, so that Ctrl-C in the launching process can end it KILLED
_ACTIVE_PARENT: dict[str, str] = {}


# ------------------------------------------------------------------------ config -> objects
def load_data(cfg: DictConfig):
    from nnfs.data import load

    ds = cfg.dataset
    crosses = None if cfg.features.crosses is None else list(cfg.features.crosses)
    return load(ds.name, n_samples=ds.n_samples, noise=ds.noise, seed=int(cfg.seed),
                test_size=float(ds.test_size), features=crosses, classes=ds.classes,
                path=ds.path, target=ds.target, task=None if ds.task == "auto" else ds.task)


def build_model(cfg: DictConfig, data, rng: np.random.Generator):
    from nnfs.core.model import MLP

    task = data.task
    return MLP(n_in=data.n_features, hidden=[int(cfg.model.width)] * int(cfg.model.depth),
               n_out=data.n_out, activation=_name(cfg.activation), task=task,
               loss=_name(cfg.loss), l2=float(cfg.model.l2), rng=rng,
               init=_name(cfg.model.init))


def build_optimizer(cfg: DictConfig):
    from nnfs.core import optimizers

    o = cfg.optimizer
    if o.name == "sgd":
        hyper = {"momentum": o.momentum, "nesterov": o.nesterov, "weight_decay": o.weight_decay}
    else:
        hyper = {"beta1": o.beta1, "beta2": o.beta2, "eps": o.eps,
                 "weight_decay": o.weight_decay}
    return optimizers.get(o.name)(**hyper)


def steps_per_epoch(cfg: DictConfig, n_train: int) -> int:
    """Optimizer steps in one epoch (as nnfs.train counts them)."""
    tr = cfg.train
    n = n_train - int(round(n_train * tr.validation_fraction)) if tr.early_stopping else n_train
    if tr.batch_size is None:
        return 1
    micro = math.ceil(n / min(int(tr.batch_size), n))
    return math.ceil(micro / int(tr.accumulation))


def build_schedule(cfg: DictConfig, n_train: int):
    """``lr(step)`` from the schedule group; None for constant (nnfs.train uses optimizer.lr).
    Epoch-based settings become optimizer steps here, so a schedule means the same thing
    whatever the batch size."""
    from nnfs.core import schedules

    s, lr = cfg.schedule, float(cfg.optimizer.lr)
    per_epoch = steps_per_epoch(cfg, n_train)
    total = per_epoch * int(cfg.train.epochs)
    if s.name == "constant":
        return None
    if s.name == "step":
        return schedules.get("step")(base_lr=lr, step_size=int(s.step_epochs) * per_epoch,
                                     gamma=float(s.gamma))
    if s.name == "inverse_time":
        return schedules.get("inverse_time")(base_lr=lr, power_t=float(s.power_t))
    if s.name == "warmup_cosine":
        return schedules.get("warmup_cosine")(
            base_lr=lr, warmup_steps=int(round(float(s.warmup_fraction) * total)),
            total_steps=total, min_lr=float(s.min_lr))
    return schedules.get(s.name)(base_lr=lr)


def _name(v: Any) -> str:
    return v.name if hasattr(v, "name") and not isinstance(v, str) else str(v)


# ------------------------------------------------------------------------------- one job
@dataclass
class JobInfo:
    """Where a job sits: its run name, axis params, parent run, position in the sweep."""

    run_name: str
    axes: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    sweep_dir: str = ""
    job_dir: str = ""
    job_num: int | None = None
    n_jobs: int | None = None
    progress: bool = False


def describe(cfg: DictConfig) -> str:
    return (f"{cfg.dataset.name} {_name(cfg.activation)} {_name(cfg.loss)} "
            f"{cfg.optimizer.name} d{cfg.model.depth}w{cfg.model.width}")


def build(cfg: DictConfig):
    """Everything a fit needs, or a ValueError naming the bad value:
    ``(data, net, optimizer, schedule, fit_rng)``. The seed feeds two independent streams:
    initialisation and the fit's shuffling."""
    data = load_data(cfg)
    init_rng, fit_rng = (np.random.default_rng(s)
                         for s in np.random.SeedSequence(int(cfg.seed)).spawn(2))
    net = build_model(cfg, data, init_rng)
    optimizer = build_optimizer(cfg)
    schedule = build_schedule(cfg, len(data.y_train))
    return data, net, optimizer, schedule, fit_rng


@dataclass
class RunResult:
    """What ``run`` made: the fit's History, the Dataset it used (the baselines fit on the same
    split), and the MLflow run (None without tracking)."""

    history: Any
    data: Any
    run_id: str | None = None
    experiment_id: str | None = None
    uri: str | None = None


def run(cfg: DictConfig, info: JobInfo | None = None, *, callbacks=()):
    """Train one configuration and track it (unless tracking is disabled); the ``History``.
    ``callbacks``: more ``cb(epoch, metrics)`` for the fit (a notebook's live plot, say)."""
    return run_job(cfg, info, callbacks=callbacks).history


def run_job(cfg: DictConfig, info: JobInfo | None = None, *, callbacks=()) -> RunResult:
    """``run`` with everything it made (History, Dataset, run id): what the baselines need to
    fit on the same split and log beside the nnfs run. Checks first, then data, model and
    optimizer, then (only then) the MLflow run."""
    from nnfs.train import fit

    info = info or JobInfo(run_name=describe(cfg))
    C.check(cfg)
    data, net, optimizer, schedule, fit_rng = build(cfg)
    tr = cfg.train

    job = None
    if cfg.tracking.enabled:
        job = TrackedJob(cfg, data, info)
    callbacks = list(callbacks)
    bar = _progress(cfg, info)
    if bar is not None:
        callbacks.append(bar)
    try:
        history = fit(net, data, optimizer=optimizer, epochs=int(tr.epochs),
                      lr=float(cfg.optimizer.lr), schedule=schedule,
                      batch_size=None if tr.batch_size is None else int(tr.batch_size),
                      accumulation=int(tr.accumulation), clip_norm=tr.clip_norm,
                      clip_value=tr.clip_value, precision=_name(tr.precision),
                      early_stopping=bool(tr.early_stopping),
                      validation_fraction=float(tr.validation_fraction),
                      patience=int(tr.patience), rng=fit_rng, callbacks=callbacks,
                      eval_every=int(tr.eval_every), threads=int(tr.threads))
        study = info.choices.get("experiment")
        if study:  # a study's extra final/* numbers; fit trained a copy, net is the initial model
            from nnfs import studies

            history.final.update(studies.extra_metrics(study, net, data, history))
        if bar is not None:
            bar.close()
        if job is not None:
            try:
                job.finish(history)
            except Exception as exc:  # the store failed after the fit: keep the result
                raise TrackingLost(job, history, exc) from exc
    except BaseException as exc:
        if bar is not None:
            bar.close()
        if job is not None:
            job.fail(exc)
        raise
    if job is None:
        return RunResult(history, data)
    return RunResult(history, data, job.run_id, job.experiment_id, job.uri)


class TrackedJob:
    """The MLflow side of one job: a child run (or a lone run) from start to end."""

    def __init__(self, cfg: DictConfig, data, info: JobInfo):
        self.t0 = time.perf_counter()
        self.cfg, self.data, self.info = cfg, data, info
        self.uri = tracking.resolve_uri(cfg.tracking.uri)
        self.client = tracking.get_client(self.uri)
        self.experiment_id = tracking.ensure_experiment(self.client, cfg.tracking.experiment,
                                                        self.uri)
        flat = C.flatten(C.to_dict(cfg))
        params = {**flat, **info.choices, **info.axes}
        tags = {"impl": "nnfs", "kind": "run", "dataset": data.name, "task": data.task,
                "separable": data.meta.get("separable", "unknown"),
                "config_hash": tracking.config_hash(flat),
                "tracking_uri": tracking.redact(self.uri), **tracking.runtime_tags()}
        if info.sweep_dir:
            tags["sweep_dir"] = info.sweep_dir
        if info.job_dir:
            tags["job_dir"] = info.job_dir
        if info.job_num is not None:
            tags["job_num"] = str(info.job_num)
        self.params, self.tags = params, tags  # kept for an offline copy (nnfs.sync)
        self.start_ms = int(time.time() * 1000)
        self.run_id = tracking.start_child_run(
            self.client, self.experiment_id, run_name=info.run_name,
            parent_run_id=info.parent_run_id, params=params, tags=tags)
        self.open_s = time.perf_counter() - self.t0

    def finish(self, history) -> None:
        from nnfs import plots

        cfg, data, client, run_id = self.cfg, self.data, self.client, self.run_id
        tracking.log_history(client, run_id, history, start_ms=self.start_ms)
        files: dict[str, bytes | str] = {
            "config.yaml": tracking.redact(OmegaConf.to_yaml(cfg, resolve=True))}
        net = history.net
        if cfg.tracking.log_figures and history.epochs:
            title = self.info.run_name
            files["figures/learning_curves.png"] = plots.to_png(plots.learning_curves(
                history.epochs, history.metrics, title=title, reuse=True))
            files["figures/grad_norms.png"] = plots.to_png(plots.grad_norms(
                history.epochs, history.metrics, reuse=True))
            if data.is_2d and net is not None and _finite(net):
                files["figures/decision_boundary.png"] = plots.decision_boundary_png(
                    net.predict_proba, data, predict=net.predict)
        tracking.log_artifact_bytes(client, run_id, files)
        if cfg.tracking.log_dataset:
            tracking.log_dataset(client, run_id, data)
        tags = {"outcome": history.status, "epochs_run": str(history.n_epochs)}
        if history.status == "diverged":
            tags.update(diverged_reason=history.reason,
                        diverged_epoch=str(history.diverged_epoch),
                        diverged_step=str(history.diverged_step))
            tracking.end_run(client, run_id, "FAILED", tags)
            return
        if history.status == "early_stopped":
            tags["best_epoch"] = str(history.best_epoch)
        if cfg.tracking.log_model and net is not None:
            tags["model_uri"] = tracking.log_pyfunc(self.uri, run_id, net, data.X_test[:5])
        tracking.end_run(client, run_id, "FINISHED", tags)

    def save_offline(self, history) -> Path:
        """The trained result in ``<job dir>/offline/`` for ``nnfs-sync``; its folder."""
        from nnfs import sync

        cfg = self.cfg
        status = "FAILED" if history.status == "diverged" else "FINISHED"
        end_tags = {"outcome": history.status, "epochs_run": str(history.n_epochs)}
        run = {"run_name": self.info.run_name, "experiment": cfg.tracking.experiment,
               "uri": self.uri, "params": self.params, "tags": self.tags,
               "parent_run_id": self.info.parent_run_id, "run_id": self.run_id,
               "status": status, "end_tags": end_tags,
               "log_model": bool(cfg.tracking.log_model)}
        folder = Path(self.info.job_dir or os.getcwd()) / sync.OFFLINE
        return sync.save_offline(folder, history=history, run=run,
                                 config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
                                 X_example=self.data.X_test[:5])

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, TrackingLost):
            exc = exc.__cause__ or exc
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            tracking.end_run(self.client, self.run_id, status, tracking.error_tags(exc))
        except Exception as exc2:  # the store itself failed: say so, keep the first error
            log.error("could not end run %s as %s: %s", self.run_id, status, exc2)


class TrackingLost(RuntimeError):
    """The store failed after the fit: the result went to ``<job dir>/offline/`` instead."""

    def __init__(self, job: TrackedJob, history, exc: BaseException):
        detail = tracking.redact(str(exc)).splitlines()[0][:300] if str(exc) else ""
        try:
            folder = job.save_offline(history)
            where = f"the trained result is saved in {folder}; upload it with: nnfs-sync {folder}"
        except Exception as exc2:  # the disk too: say so, the first error stays the cause
            where = f"and saving it offline failed too ({type(exc2).__name__}: {exc2})"
        super().__init__(f"tracking failed after the fit ({type(exc).__name__}: {detail}); "
                         f"{where}")


def _finite(net) -> bool:
    return all(np.isfinite(p).all() for p in net.params.values())


def _progress(cfg: DictConfig, info: JobInfo):
    """A tqdm bar over epochs for an interactive single run; None otherwise."""
    if not info.progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=int(cfg.train.epochs), desc=info.run_name, unit="epoch", leave=True)
    last = [0]

    def update(epoch: int, metrics: dict[str, float]) -> None:
        bar.update(epoch - last[0])
        last[0] = epoch
        shown = {k.split("/")[0][:2] + "/" + k.split("/")[1]: f"{v:.3g}"
                 for k, v in metrics.items() if k in ("train/loss", "test/acc", "test/rmse")}
        bar.set_postfix(shown, refresh=False)

    update.close = bar.close  # type: ignore[attr-defined]
    return update


# ------------------------------------------------------------------------ the Hydra task
def _parse(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(overrides)


def axis_params(overrides: list[str]) -> dict[str, str]:
    """One param per override, named as typed (``optimizer``, ``model.depth``), valued as
    typed (``adam``, ``2``): the names the sweep was given, for the UI and the report."""
    out = {}
    for o in _parse(overrides):
        if o.is_delete():
            continue
        key = o.key_or_group + (f"@{o.package}" if o.package else "")
        out[key] = o.get_value_element_as_str()
    return out


def task(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task: one job (a single run, or one job of a sweep)."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    typed = axis_params(overrides)
    swept = [k for k in os.environ.get(tracking.AXES_ENV, "").split(",") if k]
    if multirun and swept:
        name = " ".join(f"{k}={typed[k]}" for k in swept if k in typed) or describe(cfg)
    else:
        name = " ".join(f"{k}={v}" for k, v in typed.items()) or describe(cfg)
    name = tracking.redact(name)  # a tracking.uri typed with its password
    choices = {k: v for k, v in hc.runtime.choices.items()
               if k in GROUPS and v is not None}
    n_jobs = os.environ.get("NNFS_N_JOBS")
    info = JobInfo(run_name=name, axes=typed, choices=choices,
                   parent_run_id=(os.environ.get(tracking.PARENT_ENV) or None)
                   if multirun else None,
                   sweep_dir=os.path.abspath(str(hc.sweep.dir)) if multirun else "",
                   job_dir=str(hc.runtime.output_dir),
                   job_num=hc.job.num if multirun else None,
                   n_jobs=int(n_jobs) if n_jobs else None, progress=not multirun)
    t0 = time.perf_counter()
    if multirun:
        try:
            C.check(cfg)
        except C.Incompatible as exc:
            log.info("%s skipped: %s", _job_label(info), exc)
            return {"outcome": "skipped", "reason": str(exc)}
        done = _finished_before(cfg, info)
        if done:
            log.info("%s resumed: FINISHED before as run %s", _job_label(info), done)
            return {"outcome": "resumed", "run_id": done}
    try:
        result = run_job(cfg, info)
        history = result.history
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if isinstance(exc, TrackingLost) and not multirun:  # one line: where the result is
            print(f"nnfs-train: error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        if not multirun or not cfg.tracking.enabled:
            raise
        # the child is FAILED with the error; the sweep goes on (a raise would stop joblib)
        log.error("%s FAILED (%s: %s) after %.1f s", _job_label(info), type(exc).__name__,
                  exc, time.perf_counter() - t0, exc_info=not isinstance(exc, TrackingLost))
        return {"outcome": "error", "error": f"{type(exc).__name__}: {exc}"}
    if cfg.baseline.models:  # sibling sklearn runs; a failing baseline never fails the job
        from nnfs import baseline_runs

        baseline_runs.run_for_job(cfg, info, result)
    seconds = time.perf_counter() - t0
    metric = next((k for k in ("final/test_acc", "final/test_rmse") if k in history.final), "")
    value = history.final.get(metric, float("nan"))
    extra = f" ({history.reason})" if history.status == "diverged" else ""
    if multirun:
        log.info("%s | %s | %s=%.4f | %.1f s | %s%s", _job_label(info), cfg.dataset.name,
                 metric.split("/")[-1], value, seconds, history.status, extra)
    else:
        log.info("%s | %s=%.4f | fit %.2f s, total %.1f s | %s%s", info.run_name, metric,
                 value, history.final.get("time/fit_s", float("nan")), seconds,
                 history.status, extra)
    return {"outcome": history.status, metric: value, "seconds": seconds}


def _finished_before(cfg: DictConfig, info: JobInfo) -> str | None:
    """In a resumed sweep (its parent reused, ``RESUMED_ENV``), the id of a FINISHED nnfs child
    of that parent with this job's ``config_hash`` (resolved config and seed), else None."""
    if os.environ.get(RESUMED_ENV) != "1" or not info.parent_run_id or not cfg.tracking.enabled:
        return None
    uri = tracking.resolve_uri(cfg.tracking.uri)
    client = tracking.get_client(uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is None:
        return None
    done = tracking.finished_children(
        client, exp.experiment_id, info.parent_run_id,
        {"impl": "nnfs", "config_hash": tracking.config_hash(C.flatten(C.to_dict(cfg)))})
    return done[0].info.run_id if done else None


def _job_label(info: JobInfo) -> str:
    where = ""
    if info.job_num is not None:
        where = f"[{info.job_num + 1}/{info.n_jobs}] " if info.n_jobs else f"[{info.job_num}] "
    return f"{where}{info.run_name}"


class SweepCallback(Callback):
    """The sweep's MLflow parent run, in the launching process.

    on_multirun_start: store + experiment + parent run, created once before any worker starts
    (a fresh SQLite store raced by several processes fails in MLflow's migrations), or the
    interrupted parent of the same sweep reused (``_resume``); the parent id, the swept axes
    and the job count go to every job via ``hydra.job.env_set``.
    on_multirun_end: the summary on the parent (runs, failed, diverged, best child), its end,
    and a non-zero exit when a job raised.
    """

    def __init__(self) -> None:
        self.parent: str | None = None
        self.t0 = 0.0
        self.resumed = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.t0 = time.perf_counter()
        overrides = list(config.hydra.overrides.task)
        grid = sweep_grid(overrides, config.hydra.sweeper.get("params"))
        n_jobs = _PREFLIGHT.get("n_jobs") or math.prod(len(v) for v in grid.values())
        env = {tracking.AXES_ENV: ",".join(k for k, v in grid.items() if len(v) > 1),
               "NNFS_N_JOBS": str(n_jobs), "NNFS_GIT_COMMIT": tracking.git_commit()}
        if config.tracking.enabled:
            uri = tracking.resolve_uri(config.tracking.uri)
            client = tracking.get_client(uri)
            exp = tracking.ensure_experiment(client, config.tracking.experiment, uri)
            sweep_dir = os.path.abspath(str(config.hydra.sweep.dir))
            launcher = config.hydra.runtime.choices.get("hydra/launcher", "basic")
            tags = {"sweep_dir": sweep_dir, "overrides": " ".join(overrides), "grid": grid,
                    "n_jobs": n_jobs, "launcher": launcher,
                    "skipped": len(_PREFLIGHT.get("skipped", [])), **tracking.runtime_tags(),
                    "tracking_uri": tracking.redact(uri)}
            signature = tracking.sweep_hash(_JOB_HASHES) if _JOB_HASHES else ""
            if signature:
                tags["sweep_hash"] = signature
            reused, self.resumed = _resume(client, exp, config, signature, tags)
            self.parent = reused or tracking.start_parent_run(
                client, exp, run_name=f"sweep {os.path.basename(sweep_dir)}", tags=tags)
            env[RESUMED_ENV] = "1" if reused else "0"
            _ACTIVE_PARENT.update(uri=uri, run_id=self.parent, experiment_id=exp)
            env[tracking.PARENT_ENV] = self.parent
            # remote workers (Ray, SLURM) log to this store, not to their machine's default;
            # not a URI with a password: env_set is written into every job's .hydra/ folder
            if tracking.redact(uri) == uri:
                env["MLFLOW_TRACKING_URI"] = uri
            log.info("MLflow parent run %s in experiment '%s' (%s)", self.parent,
                     config.tracking.experiment, tracking.redact(uri))
        # the launchers compose each job from the master config plus these Hydra overrides:
        # the values reach every job, in-process or in a joblib worker
        for key, value in env.items():
            config.hydra.overrides.hydra.append(
                f"++hydra.job.env_set.{key}={_quote(value)}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent is None:
            return
        uri, exp = _ACTIVE_PARENT["uri"], _ACTIVE_PARENT["experiment_id"]
        client = tracking.get_client(uri)
        summary = tracking.summarize_sweep(client, exp, self.parent)
        summary["skipped"] = len(_PREFLIGHT.get("skipped", []))
        summary["resumed"] = self.resumed  # skipped now: FINISHED in the interrupted attempt
        tracking.finish_parent_run(client, self.parent, summary,
                                   wall_s=time.perf_counter() - self.t0)
        _ACTIVE_PARENT.clear()
        best = (f"; best {summary['best_metric']}={summary['best_value']:.4f} "
                f"({summary['best_run_name']})" if "best_value" in summary else "")
        log.info("sweep done: %d runs, %d finished, %d diverged, %d errors, %d skipped, "
                 "%d resumed (FINISHED before)%s", summary["runs"], summary["finished"],
                 summary["diverged"], summary["errors"], summary["skipped"],
                 summary["resumed"], best)
        if summary["errors"]:
            raise RuntimeError(
                f"{summary['errors']} of {summary['runs']} jobs raised an exception; their "
                f"runs are FAILED with the tag 'error' (parent run {self.parent})")


def _resume(client, experiment_id: str, config: DictConfig, signature: str,
            tags: dict[str, Any]) -> tuple[str | None, int]:
    """Before a sweep: runs left RUNNING by a dead process end KILLED (always). With
    ``resume=true`` (the default), if the newest parent of the same sweep (``sweep_hash``) was
    interrupted (KILLED, FAILED), it becomes this sweep's parent again (RUNNING, with ``tags``
    and ``resumed=true``): ``(its id, how many of its jobs FINISHED and are skipped)``. Else
    ``(None, 0)``: a fresh parent, nothing skipped (a completed sweep reruns in full)."""
    dead = tracking.end_dead_runs(client, experiment_id)
    if dead:
        log.info("%d runs left RUNNING by a process that is gone are now KILLED", len(dead))
    if not config.get("resume", True):
        return None, 0
    old = tracking.resumable_parent(client, experiment_id, signature) if signature else None
    if old is None:
        return None, 0
    done = tracking.finished_hashes(client, experiment_id, old.info.run_id)
    skipped = sum(h in done for h in _JOB_HASHES)
    tags["resumed"] = "true"
    tags["resumes"] = int(old.data.tags.get("resumes", "0") or 0) + 1
    tracking.reopen_parent(client, old.info.run_id, tags)
    log.info("resume: sweep %s was %s; %d of %d jobs FINISHED there and are skipped, the "
             "others run under it again (resume=false starts a fresh sweep)", old.info.run_id,
             old.info.status, skipped, len(_JOB_HASHES))
    return old.info.run_id, skipped


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def sweeper_params(params) -> list[str]:
    """``hydra.sweeper.params`` (a study's grid) as overrides, which the basic sweeper puts
    before the command line's (a key typed on the command line replaces the study's)."""
    return [f"{k}={v}" for k, v in (params or {}).items()]


def sweep_grid(overrides: list[str], params=None) -> dict[str, list[str]]:
    """{key as typed: [values]} of a sweep: the study's ``hydra.sweeper.params`` and the
    command line's task overrides (sweeps and single values)."""
    grid = {}
    for o in _parse(sweeper_params(params) + list(overrides)):
        if o.is_delete():
            continue
        key = o.key_or_group + (f"@{o.package}" if o.package else "")
        if o.is_sweep_override() and o.is_discrete_sweep():
            grid[key] = list(o.sweep_string_iterator())
        else:
            grid[key] = [o.get_value_element_as_str()]
    return grid


# ------------------------------------------------------------------------------ preflight
def one_line(exc: BaseException) -> str:
    """A Hydra/OmegaConf composition error as one line: key, value, what is allowed."""
    text = str(exc)
    cause = exc.__cause__
    missing = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        if "Available options" in text:
            options = []
            for ln in text.split("Available options", 1)[1].splitlines()[1:]:
                if not ln.startswith(("\t", " ")) or not ln.strip():
                    break
                options.append(ln.strip())
            return f"{group}={option} is not valid; allowed: one of {', '.join(options)}"
        roots = re.findall(r"path=file://(\S+)", text)
        return (f"{group}={option} is not valid; allowed: the name of a file {group}/<name>.yaml "
                f"under {' or '.join(roots) or 'the config search path'}")
    merging = re.match(r"Error merging override (\S+)", text)
    detail = str(cause).splitlines()[0] if cause is not None else ""
    if merging and detail:
        return f"{merging.group(1)} is not valid: {detail}"
    unknown = re.search(r"Key '([^']+)' not in '([^']+)'", text + str(cause or ""))
    override = re.search(r"use \+(\S+)", text)
    if unknown and override:
        schema = getattr(C, unknown.group(2), None)
        keys = ", ".join(getattr(schema, "__dataclass_fields__", {})) or "see --cfg job"
        return (f"{override.group(1)} is not valid: no key '{unknown.group(1)}' there; "
                f"allowed keys: {keys} (or +{override.group(1)} to add one)")
    lines = []
    for part in [text] + ([str(cause)] if cause is not None and str(cause) not in text else []):
        for ln in part.splitlines():
            ln = ln.strip()
            if ln and not ln.startswith(("full_key:", "object_type", "reference_type",
                                         "value_type", "explicit_type")):
                lines.append(ln)
    return "; ".join(lines)


def _fail(msg: str) -> None:
    print(f"nnfs-train: error: {msg}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_CONFIG)


def preflight(argv: list[str]) -> dict[str, Any] | None:
    """Compose and check every job of the command line before Hydra starts.

    Exits with status 2 and one line on the first bad value; returns ``{"n_jobs": int,
    "skipped": [(overrides, reason)]}`` (jobs whose combination cannot run, e.g. cross_entropy
    on regression data: a sweep skips them, a single run fails). None when the command is not
    a plain run or sweep (``--help``, ``--cfg``, another config dir or sweeper).
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    args = get_args_parser().parse_args(argv)
    if (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion
            or args.config_path or args.config_dir or args.resolve):
        return None
    try:
        parsed = _parse(list(args.overrides))
    except HydraException as exc:
        _fail(one_line(exc))
    if any(o.is_hydra_override() and o.key_or_group == "hydra/sweeper" for o in parsed):
        return None
    task_overrides = [o for o in parsed if not o.is_hydra_override()]
    config_name = args.config_name or "config"
    if args.multirun:
        # a study (+experiment=...) may hold its grid in hydra.sweeper.params: read it from
        # the primary config, composed as Hydra will (the single-valued overrides only)
        singles = [o.input_line for o in parsed if not o.is_sweep_override()]
        with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
            try:
                primary = compose(config_name=config_name, overrides=singles,
                                  return_hydra_config=True)
            except (HydraException, OmegaConfBaseException) as exc:
                _fail(one_line(exc))
            params = sweeper_params(primary.hydra.sweeper.get("params"))
        try:
            jobs = BasicSweeper.split_arguments(_parse(params) + task_overrides, None)[0]
        except HydraException:
            return None  # a sweep type the basic sweeper does not expand: Hydra will check it
    elif any(o.is_sweep_override() for o in task_overrides):
        return None  # Hydra explains "did you mean -m"
    else:
        jobs = [[o.input_line for o in task_overrides]]
    skipped = []
    datasets: dict[str, Any] = {}
    uris: set[str] = set()
    _JOB_HASHES.clear()
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        for job, cfg in _compose_jobs(config_name, jobs):
            try:
                C.check(cfg)
            except C.Incompatible as exc:
                if not args.multirun:
                    _fail(str(exc))
                skipped.append((" ".join(job), str(exc)))
                continue
            except C.ConfigError as exc:
                _fail(str(exc))
            _preflight_build(cfg, datasets)
            _JOB_HASHES.append(tracking.config_hash(C.flatten(C.to_dict(cfg))))
            if cfg.tracking.enabled:
                uris.add(tracking.resolve_uri(cfg.tracking.uri))
    _check_output_dir(parsed, multirun=bool(args.multirun))
    for uri in sorted(uris):
        reason = tracking.check_store(uri)
        if reason:
            _fail(f"tracking.uri={tracking.redact(uri)} cannot be used: {reason}; allowed: "
                  f"{tracking.STORE_ALLOWED} (or tracking=none)")
    if skipped:
        print(f"nnfs-train: skipping {len(skipped)} of {len(jobs)} jobs whose combination "
              f"cannot run, e.g. {skipped[0][0]}: {skipped[0][1]}", file=sys.stderr)
    return {"n_jobs": len(jobs), "skipped": skipped}


def _check_output_dir(parsed, *, multirun: bool) -> None:
    """Hydra's output folder (hydra.sweep.dir or hydra.run.dir; default under the current
    folder) must exist or be creatable: else one line now, not a traceback after the parent
    run exists."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = next((o.get_value_element_as_str() for o in parsed
                  if o.is_hydra_override() and o.key_or_group == key), None)
    folder = Path.cwd() if value is None else Path(value.split("${", 1)[0] or ".")
    reason = tracking.unwritable_dir(folder)
    if reason:
        _fail(f"{key}={value if value is not None else folder} cannot be written: {reason}; "
              f"allowed: a folder that exists or can be created")


def _compose_jobs(config_name: str, jobs: list[list[str]]):
    """Yield ``(job, config)`` for every job, exactly as Hydra will compose it, but fast.

    Hydra composes a config from its defaults list (the group choices), then applies the
    value overrides (``model.depth=2``). Composing costs ~0.1-0.2 s, applying values ~1 ms, so
    each distinct combination of group choices is composed once and the values are applied to
    a copy with Hydra's own override code: a 64-job sweep over 2 datasets and 2 optimizers
    composes 4 times instead of 64.
    """
    import copy

    from hydra import compose
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    repository = GlobalHydra.instance().config_loader().repository
    composed: dict[tuple[str, ...], DictConfig] = {}

    def is_group(o) -> bool:
        return o.key_or_group in GROUPS or repository.group_exists(o.key_or_group)

    for job in jobs:
        try:
            parsed = _parse(list(job))
            groups = tuple(o.input_line for o in parsed if is_group(o))
            if groups not in composed:
                composed[groups] = compose(config_name=config_name, overrides=list(groups))
            cfg = copy.deepcopy(composed[groups])
            ConfigLoaderImpl._apply_overrides_to_config(
                [o for o in parsed if not is_group(o)], cfg)
        except (HydraException, OmegaConfBaseException) as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            _fail(one_line(exc))
        yield job, cfg


def _preflight_build(cfg: DictConfig, datasets: dict[str, Any]) -> None:
    """Load the job's data (once per distinct dataset settings) and build its model and
    optimizer: a CSV without its target column, say, stops the command here, before any run."""
    key = repr((C.to_dict(cfg.dataset), C.to_dict(cfg.features), cfg.seed))
    try:
        if key not in datasets:
            datasets[key] = load_data(cfg)
        data = datasets[key]
        build_model(cfg, data, np.random.default_rng(0))
        build_optimizer(cfg)
        build_schedule(cfg, len(data.y_train))
    except ValueError as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else repr(exc))


# ------------------------------------------------------------------------------ entry point
def _hydra_main():
    import hydra

    return hydra.main(config_path=str(C.CONF_DIR), config_name="config",
                      version_base="1.3")(task)


def main(argv: list[str] | None = None) -> None:
    """``nnfs-train [-m] [overrides]``: check everything, then hand over to Hydra."""
    argv = list(sys.argv[1:] if argv is None else argv)
    C.register()
    # a leftover run id in the environment would make MLflow attach to a foreign run
    os.environ.pop("MLFLOW_RUN_ID", None)
    os.environ.pop(tracking.PARENT_ENV, None)
    os.environ.pop(RESUMED_ENV, None)
    _PREFLIGHT.clear()
    _JOB_HASHES.clear()  # preflight may return early (--cfg, another sweeper): no stale hashes
    _PREFLIGHT.update(preflight(argv) or {})
    saved = sys.argv
    sys.argv = [saved[0] if saved else "nnfs-train", *argv]
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()  # a second main() in one process (tests, notebooks)
    try:
        _hydra_main()()
    except KeyboardInterrupt:
        _kill_parent()
        raise SystemExit(130) from None
    except BaseException as exc:
        # the launcher itself failed (Ray cannot connect, a worker died): Hydra printed the
        # error and exits; the parent (still active: on_multirun_end never ran) ends FAILED
        if _ACTIVE_PARENT:
            _kill_parent("FAILED", tracking.error_tags(_root_cause(exc)))
        raise
    finally:
        sys.argv = saved


def _root_cause(exc: BaseException) -> BaseException:
    """The error behind Hydra's ``sys.exit(1)`` (raised while handling it: its context)."""
    while isinstance(exc, SystemExit) and exc.__context__ is not None:
        exc = exc.__context__
    return exc


def _kill_parent(status: str = "KILLED", tags: dict[str, str] | None = None) -> None:
    """Ctrl-C in the launching process: the parent and its children still RUNNING (a joblib
    worker killed mid-job cannot end its own run) end KILLED; a failed launcher: FAILED with
    its error."""
    tags = tags or {"outcome": "interrupted"}
    if _ACTIVE_PARENT:
        try:
            client = tracking.get_client(_ACTIVE_PARENT["uri"])
            for run in tracking.child_runs(client, _ACTIVE_PARENT["experiment_id"],
                                           _ACTIVE_PARENT["run_id"],
                                           filter_string="attributes.status = 'RUNNING'"):
                tracking.end_run(client, run.info.run_id, status, tags)
            tracking.end_run(client, _ACTIVE_PARENT["run_id"], status, tags)
        finally:
            _ACTIVE_PARENT.clear()


if __name__ == "__main__":
    main()
